import { proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { GuardianActivities } from '../../activities/index.js';
import { bookkeepingActivity } from '../activity-options.js';
import type { IncidentInput } from '../definitions.js';
import type { IncidentRecorder } from './recording.js';

const bookkeeping = proxyLocalActivities<GuardianActivities>(bookkeepingActivity);

/**
 * Opens the incident in the ledger and asks its gate whether to heal. When the gate says no —
 * healed too often, paused by an earlier escalation, or held by a rollback or an operator —
 * closes the incident (`flapping` or `held`), alerting on the escalation itself only; returns
 * whether remediation may run.
 */
export async function passFlapGate(input: IncidentInput<unknown>, recorder: IncidentRecorder): Promise<boolean> {
  const { workflowId, runId } = workflowInfo();
  const gate = await bookkeeping.openIncident({
    workflowId,
    runId,
    mode: input.mode,
    host: input.host,
    resource: input.resource,
    evidence: input.evidence,
    detectedAt: input.detectedAt,
    injectedAt: input.injectedAt ?? null,
    flapLimit: input.settings.flapLimit,
    flapWindowMs: input.settings.flapWindowMs,
  });
  if (gate.decision === 'heal') return true;
  recorder.status.outcome = gate.decision === 'held' ? 'held' : 'flapping';
  recorder.status.phase = 'closed';
  const resume = `guardian resume ${input.mode} ${input.resource}`;
  recorder.note(
    gate.decision === 'held'
      ? `on hold: no automatic remediation until \`${resume}\``
      : gate.decision === 'paused'
        ? `auto-remediation is paused for this resource; run \`${resume}\` after investigating`
        : `healed ${gate.healsInWindow} times within ${Math.round(input.settings.flapWindowMs / 1000)}s: escalated and paused`,
  );
  await recorder.record();
  if (gate.decision === 'flapping') {
    await recorder.alert(
      `${input.mode} on ${input.resource} keeps coming back (${gate.healsInWindow} heals in the window). ` +
        `Auto-remediation is paused; investigate, then run: guardian resume ${input.mode} ${input.resource}`,
      'critical',
    );
  }
  return false;
}
