import { proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { ServiceDiagnostics } from '../activities/service-down.js';
import { localLongActivity, localQuickActivity, stopActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { type IncidentContext, runIncident } from './incident-harness.js';
import { attemptStep, diedWhileStarting, spendRestartBudget } from './restart-budget.js';
import { notGuardiansProcess } from '../lib/failures.js';

/** Mode parameters of service-down. The incident's resource is the service's name. */
export interface ServiceDownParams {
  /** Restarts allowed in the budget's window (service.restart.burst). @default 5 */
  burst: number;
  /** How long a restarted service has to answer its health route. @default 35000 */
  readyTimeoutMs: number;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
const localLong = proxyLocalActivities<GuardianActivities>(localLongActivity);
/** Stopping a hung process can take the whole stop timeout: a regular activity, retried and visible. */
const stop = proxyActivities<GuardianActivities>(stopActivity);

/**
 * Failure mode 11. The guarded service died (any exit Guardian did not ask for, the kernel's OOM
 * kill included) or hangs (alive, but its health route failed `threshold` times in a row).
 * Captures diagnostics; stops a hung process only when the registry proves it Guardian's own;
 * restarts it (in low-memory mode after an OOM kill), waits until it is ready, verifies, alerts.
 * Restarts spend a budget (first at once, then a doubling pause; `burst` per window): past it the
 * crash loop is escalated and restarts are held until `guardian resume`. Rollback (or `guardian
 * clear service-down <service>`) ends the low-memory mode a restart turned on, which every start
 * keeps until then, across restarts of Guardian; the restart itself cannot be undone.
 */
export async function serviceDown(input: IncidentInput<ServiceDownParams>): Promise<IncidentResult> {
  // The restart budget is this mode's own flap protection; the harness's stays as a backstop above it.
  const flapLimit = Math.max(input.settings.flapLimit, input.params.burst + 1);
  return runIncident({ ...input, settings: { ...input.settings, flapLimit } }, async (ctx) => {
    const found = await ctx.step('capture-diagnostics', () => localQuick.captureServiceDiagnostics(), undefined, {
      inspect: true,
    });
    ctx.note(found.summary);
    if (found.kind === 'answering' && found.process) {
      const { pid } = found.process;
      await ctx.verify('verify', () => localQuick.verifyServiceUp({ pid }));
      return;
    }
    if (found.kind === 'hung' && !found.ownProcess) {
      // The harness fails the incident and alerts with this message; nothing was signalled.
      throw notGuardiansProcess(found.summary);
    }
    await restartUntilReady(ctx, found);
  });
}

/** Restarts within the budget until a start is ready; escalates the crash loop when the budget runs out. */
async function restartUntilReady(ctx: IncidentContext<ServiceDownParams>, found: ServiceDiagnostics): Promise<void> {
  const { resource, params } = ctx.input;
  const { runId } = workflowInfo();
  let lowMemory = found.oomKill;
  let oomEvidence = found.oomEvidence;
  let cause = found.summary;
  for (let attempt = 1; ; attempt++) {
    const named = (step: string) => attemptStep(step, attempt);
    const plan = await spendRestartBudget(ctx, 'service', attempt, { cause, lastLines: found.lastLines });
    if (attempt === 1 && found.kind === 'hung' && found.process) {
      const proc = found.process;
      const stopped = await ctx.step('stop-hung-process', () =>
        stop.stopHungService({ pid: proc.pid, startTicks: proc.startTicks }),
      );
      ctx.note(`stopped the hung pid ${proc.pid} (${stopped.stopped} in ${stopped.tookMs} ms)`);
      if (stopped.oomKill) {
        lowMemory = true;
        oomEvidence = stopped.oomEvidence;
        ctx.note(`it was killed for lack of memory (${oomEvidence})`);
      }
    }
    const started = await ctx.step(
      named('restart'),
      () => localQuick.restartService({ key: `${runId}:${attempt}`, cause, lowMemory }),
      // A restart cannot be undone; what a rollback ends is the low-memory mode it turned on.
      lowMemory ? () => localQuick.endLowMemoryMode() : undefined,
      { keepOnFailure: true },
    );
    try {
      const ready = await ctx.step(named('wait-ready'), () =>
        localLong.waitForServiceReady({ pid: started.pid, timeoutMs: params.readyTimeoutMs }),
      );
      await ctx.verify('verify', () => localQuick.verifyServiceUp({ pid: started.pid }));
      await ctx.alert(
        healedMessage(resource, { ...found, oomEvidence }, started, ready.readyAt, plan),
        lowMemory ? 'critical' : 'warning',
      );
      return;
    } catch (err) {
      // A start that died before it was ready is another crash: spend the budget on the next one.
      const died = diedWhileStarting(err);
      if (ctx.abortRequested || !died) throw err;
      cause = died.message;
      ctx.note(`restart ${attempt} failed: ${cause}`);
    }
  }
}

function healedMessage(
  resource: string,
  found: ServiceDiagnostics,
  started: { pid: number; lowMemory: boolean },
  readyAt: number,
  plan: { restartsInWindow: number; burst: number },
): string {
  const took = found.exit ? ` ${Math.max(0, readyAt - found.exit.at)} ms after it died` : '';
  return (
    `${found.summary}. Guardian ${found.kind === 'hung' ? 'stopped and ' : ''}restarted it${took} (pid ${started.pid}).` +
    (started.lowMemory
      ? ` It was killed for lack of memory (${found.oomEvidence}); it now runs in low-memory mode (GUARDIAN_LOW_MEMORY=true), and so does every start until a rollback or guardian clear service-down ${resource} ends it.`
      : '') +
    ` Restarts in the window: ${plan.restartsInWindow + 1} of ${plan.burst}.` +
    (found.procState ? ` Process state when hung: ${found.procState}.` : '') +
    (found.lastLines.length > 0 ? ` Last lines: ${found.lastLines.slice(-3).join(' ⏎ ')}` : '')
  );
}
