import { proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { localQuickActivity, restartActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { type IncidentContext, runIncident } from './incident-harness.js';
import { attemptStep, diedWhileStarting, spendRestartBudget } from './restart-budget.js';

/** Mode parameters of model-server-down. The incident's resource is the model server's name. */
export interface ModelServerDownParams {
  /** Whether a guarded service uses the model server (its AI feature is switched off meanwhile). */
  serviceConnected: boolean;
  /** How long a start may take before the API answers. @default 10000 */
  startTimeoutMs: number;
  /** Restarts allowed in the budget's window (modelServer.restart.burst). @default 5 */
  burst: number;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
const restart = proxyActivities<GuardianActivities>(restartActivity);

/** What a start of the model server did. */
type Started = Awaited<ReturnType<GuardianActivities['startModelServer']>>;

/**
 * Failure mode 10. Switches the service's AI feature off (its rule-based and cached answers take
 * over), starts the model server in the background and waits for `/api/version`, then switches
 * AI back on. Starts spend the same restart budget as service-down's (first at once, then a
 * doubling pause; `burst` per window): past it the crash loop is escalated, the AI feature left
 * off, and restarts are held until `guardian resume model-server-down <name>`. A missing binary
 * fails at once with install instructions, the AI feature left off. Rollback switches the AI
 * feature back on.
 */
export async function modelServerDown(input: IncidentInput<ModelServerDownParams>): Promise<IncidentResult> {
  // The restart budget is this mode's own flap protection; the harness's stays as a backstop above it.
  const flapLimit = Math.max(input.settings.flapLimit, input.params.burst + 1);
  return runIncident({ ...input, settings: { ...input.settings, flapLimit } }, async (ctx) => {
    const { serviceConnected } = input.params;
    const degraded = serviceConnected
      ? await ctx.step(
          'degrade-ai',
          () => localQuick.setServiceFeature({ name: 'ai', enabled: false }),
          (d) => (ours(d) ? localQuick.setServiceFeature({ name: 'ai', enabled: true }) : Promise.resolve()),
          { keepOnFailure: true },
        )
      : undefined;
    const started = await startWithinBudget(ctx);
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

/** Starts the model server within the restart budget until a start answers; escalates the crash loop past it. */
async function startWithinBudget(ctx: IncidentContext<ModelServerDownParams>): Promise<Started> {
  const { runId } = workflowInfo();
  let cause = ctx.input.evidence;
  for (let attempt = 1; ; attempt++) {
    await spendRestartBudget(ctx, 'model-server', attempt, { cause });
    try {
      return await ctx.step(attemptStep('start-model-server', attempt), () =>
        restart.startModelServer({ key: `${runId}:${attempt}`, cause, timeoutMs: ctx.input.params.startTimeoutMs }),
      );
    } catch (err) {
      // A start that died before its API answered is another crash: spend the budget on the next one.
      const died = diedWhileStarting(err);
      if (ctx.abortRequested || !died) throw err;
      cause = died.message;
      ctx.note(`start ${attempt} failed: ${cause}`);
    }
  }
}

/** Only what Guardian switched off is switched back on: never a feature the operator turned off. */
function ours(d: { applied: boolean; previous: boolean | null; byGuardian: boolean }): boolean {
  return d.applied && (d.previous === true || d.byGuardian);
}
