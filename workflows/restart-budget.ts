import { ApplicationFailure, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { SupervisedUnit, UnitRestartPlan } from '../activities/restart-budget.js';
import { localQuickActivity } from './activity-options.js';
import type { IncidentContext } from './incident-harness.js';
import { FailureType } from '../lib/failures.js';

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);

/** A plan the budget allowed. */
export type AllowedRestart = Extract<UnitRestartPlan, { allowed: true }>;

/** What an escalated crash loop's alert tells about the restarts that came before. */
export interface CrashLoopEvidence {
  /** How the latest start ended (or the incident's evidence before the first). */
  readonly cause: string;
  /** The unit's last output lines, when known. */
  readonly lastLines?: readonly string[];
}

/**
 * One turn of the restart budget of `unit`, shared by every mode that restarts a supervised
 * process: the `restart-budget` step (numbered from the second `attempt` on), then the pause it
 * asks for (the first restart at once, then doubling). Past the budget it holds the unit's
 * restarts (`hold-restarts`) and escalates the crash loop with an alert naming the
 * `guardian resume <mode> <resource>` that lifts the hold; it never returns then.
 */
export async function spendRestartBudget<P>(
  ctx: IncidentContext<P>,
  unit: SupervisedUnit,
  attempt: number,
  evidence: CrashLoopEvidence,
): Promise<AllowedRestart> {
  const { mode, resource } = ctx.input;
  const plan = await ctx.step(attemptStep('restart-budget', attempt), () => localQuick.planRestart({ unit }));
  if (!plan.allowed) {
    await ctx.step('hold-restarts', () => localQuick.holdRestarts({ unit, reason: plan.reason }));
    const lines = evidence.lastLines ?? [];
    return ctx.escalate(
      `${resource} is in a crash loop: ${plan.reason}. Restarts are held until an operator resumes them. ` +
        `Last exits: ${[evidence.cause, ...plan.recentCauses].slice(0, 5).join(' | ')}. ` +
        (lines.length > 0 ? `Last lines: ${lines.slice(-5).join(' ⏎ ')}. ` : '') +
        `Investigate, then run: guardian resume ${mode} ${resource}`,
    );
  }
  if (plan.delayMs > 0) {
    ctx.note(`backed off ${plan.delayMs} ms before restart ${plan.restartsInWindow + 1} of ${plan.burst}`);
    await sleep(plan.delayMs);
  }
  return plan;
}

/** The name of a step in restart `attempt`: the plain name first, then `name (2)`, `name (3)` … */
export function attemptStep(step: string, attempt: number): string {
  return attempt === 1 ? step : `${step} (${attempt})`;
}

/** The failure of a step whose new process exited before it was ready, if that is what `err` is. */
export function diedWhileStarting(err: unknown): ApplicationFailure | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === FailureType.ExitedWhileStarting) return e;
  }
  return undefined;
}
