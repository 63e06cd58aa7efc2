import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { localQuickActivity, restartActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { runIncident } from './incident-harness.js';

/** Mode parameters of model-server-down. The incident's resource is the model server's name. */
export interface ModelServerDownParams {
  /** Whether a guarded service uses the model server (its AI feature is switched off meanwhile). */
  serviceConnected: boolean;
  /** How long a start may take before the API answers. @default 10000 */
  startTimeoutMs: number;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
const restart = proxyActivities<GuardianActivities>(restartActivity);

/**
 * Failure mode 10. Switches the service's AI feature off (its rule-based and cached answers take
 * over), starts the model server in the background and waits for `/api/version`, then switches
 * AI back on. Starts are retried with backoff and bounded; a missing binary fails at once with
 * install instructions, the AI feature left off. Rollback switches the AI feature back on.
 */
export async function modelServerDown(input: IncidentInput<ModelServerDownParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const { serviceConnected, startTimeoutMs } = input.params;
    const degraded = serviceConnected
      ? await ctx.step(
          'degrade-ai',
          () => localQuick.setServiceFeature({ name: 'ai', enabled: false }),
          (d) => (ours(d) ? localQuick.setServiceFeature({ name: 'ai', enabled: true }) : Promise.resolve()),
          { keepOnFailure: true },
        )
      : undefined;
    const started = await ctx.step('start-model-server', () => restart.startModelServer({ timeoutMs: startTimeoutMs }));
    ctx.note(
      started.action === 'already-answering'
        ? `${input.resource} answered again by itself`
        : `${input.resource} ${started.action}${started.pid === null ? '' : ` (pid ${started.pid})`}, version ${started.version}`,
    );
    if (degraded && ours(degraded)) {
      await ctx.step('restore-ai', () => localQuick.setServiceFeature({ name: 'ai', enabled: true }));
    }
    await ctx.verify('verify', () => localQuick.verifyModelServer({ serviceConnected }));
    if (started.action !== 'already-answering') {
      await ctx.alert(
        `model server ${input.resource} was down (${input.evidence}); Guardian ${started.action === 'restarted' ? 'restarted' : 'started'} it` +
          (degraded?.applied ? ' and served rule-based and cached AI answers meanwhile.' : '.'),
        'warning',
      );
    }
  });
}

/** Only what Guardian switched off is switched back on: never a feature the operator turned off. */
function ours(d: { applied: boolean; previous: boolean | null; byGuardian: boolean }): boolean {
  return d.applied && (d.previous === true || d.byGuardian);
}
