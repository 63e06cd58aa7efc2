import { ApplicationFailure, executeChild, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { localQuickActivity } from './activity-options.js';
import { circuitWatch } from './circuit-watch.js';
import { type IncidentInput, type IncidentResult, incidentWorkflowId } from './definitions.js';
import { runIncident } from './incident-harness.js';
import { FailureType } from '../lib/failures.js';

/** Mode parameters of api-timeout (durations are inputs so tests can shorten them). */
export interface ApiTimeoutParams {
  /** Egress endpoint name in guardian.yaml. */
  endpoint: string;
  /** The normal timeout, then the shorter ones used while it misbehaves. @default [30000, 10000, 5000] */
  timeoutsMs: number[];
  /** Half-open trial interval. @default 60000 */
  retryIntervalMs: number;
  /** How long the circuit may stay open before the incident fails with an alert (it stays open). @default 604800000 */
  maxOpenMs: number;
  /** Trials per watch run before continue-as-new. @default 50 */
  trialsPerRun?: number;
  /** Whether a backup endpoint takes the traffic while open. */
  hasBackup: boolean;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);

/**
 * Failure mode 7. Opens the endpoint's circuit in the egress proxy (traffic to the backup, or the
 * last good replies marked stale), shortens its timeout, verifies, alerts; then a child workflow
 * tries the primary once every interval (half-open) and the circuit closes, with the normal
 * timeout, when a trial succeeds. Rollback closes the circuit and restores the normal timeout.
 */
export async function apiTimeout(input: IncidentInput<ApiTimeoutParams>): Promise<IncidentResult> {
  // Derived from the input, not workflowInfo(), so a recorded history replays under any workflow ID.
  const incidentId = incidentWorkflowId(input.mode, input.host, input.resource);
  const { runId } = workflowInfo();
  const { endpoint, timeoutsMs, retryIntervalMs, maxOpenMs, trialsPerRun = 50, hasBackup } = input.params;
  const normalMs = timeoutsMs[0] ?? 30_000;
  const reduced = timeoutsMs.length > 1 ? timeoutsMs.slice(1) : [normalMs];
  return runIncident(input, async (ctx) => {
    // An open circuit is good only while the half-open trials below look for the primary: an
    // incident that fails closes it (failures that go on open a new incident with new trials),
    // and so does a step that failed after opening it.
    const close = () => localQuick.closeCircuit({ endpoint, timeoutMs: normalMs });
    await ctx.step(
      'open-circuit',
      () => localQuick.openCircuit({ endpoint, timeoutMs: reduced[0] ?? normalMs }),
      close,
      {
        undoFailed: close,
      },
    );
    await ctx.verify('verify-circuit-open', () => localQuick.verifyCircuitOpen({ endpoint }));
    await ctx.alert(
      `${endpoint} is failing (${input.evidence}); circuit open: ${hasBackup ? 'traffic goes to the backup endpoint' : 'the last good replies are served, marked stale'}. ` +
        `The primary is tried every ${Math.round(retryIntervalMs / 1000)} s.`,
      'warning',
    );
    const watch = await ctx.step('half-open-trials', () =>
      executeChild(circuitWatch, {
        workflowId: `${incidentId}:trials:${runId.slice(0, 8)}`,
        args: [
          { endpoint, timeoutsMs: reduced, retryIntervalMs, maxOpenMs, trialsPerRun, startedAt: Date.now(), trials: 0 },
        ],
      }),
    );
    if (!watch.recovered) {
      throw ApplicationFailure.nonRetryable(
        `${endpoint} still fails after ${Math.round(watch.openMs / 60_000)} min (${watch.lastTrial}); the circuit was closed, and failures that go on are detected again`,
        FailureType.StillFailing,
      );
    }
    await ctx.step('close-circuit', () => localQuick.closeCircuit({ endpoint, timeoutMs: normalMs }));
    ctx.note(
      `primary recovered after ${watch.trials} trial(s) (${watch.lastTrial}); circuit closed, timeout back to ${normalMs} ms`,
    );
  });
}
