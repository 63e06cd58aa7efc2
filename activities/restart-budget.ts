import { ApplicationFailure } from '@temporalio/activity';
import type { RestartPlan, RestartUnit } from '../lib/restart-budget.js';
import { type ActivityDeps, requireSupervision } from './deps.js';
import { FailureType } from '../lib/failures.js';
import { oncePerStep } from '../lib/step-state.js';

/** Which supervised process a restart is about: the guarded service or the model server. */
export type SupervisedUnit = 'service' | 'model-server';

/** The mode whose incidents restart each unit, and whose `guardian resume` lifts its hold. */
export const RESUME_MODE = { service: 'service-down', 'model-server': 'model-server-down' } as const satisfies Record<
  SupervisedUnit,
  string
>;

/** What the restart budget allows now, with the causes of the latest restarts for an escalation. */
export type UnitRestartPlan = RestartPlan & { burst: number; intervalMs: number; recentCauses: string[] };

/** The unit's process and budget, or a non-retryable failure when guardian.yaml declares none. */
export function restartUnit(
  deps: Pick<ActivityDeps, 'config' | 'service' | 'registry' | 'modelServer'>,
  unit: SupervisedUnit,
): RestartUnit {
  if (unit === 'service') return requireSupervision(deps).service;
  if (!deps.modelServer)
    throw ApplicationFailure.nonRetryable(`${deps.config.file} declares no modelServer`, FailureType.NoModelServer);
  return deps.modelServer;
}

/**
 * Spends one restart of `unit` from its budget, counted once per `key`: a re-run of the same
 * step counts nothing more and may go ahead even at the limit. Throws a non-retryable
 * `RestartBudgetExhausted` when the budget refuses a restart not counted yet.
 */
export function spendRestart(unit: RestartUnit, { key, cause }: { key: string; cause: string }): void {
  const plan = unit.restarts.plan(unit.name, unit.restartLimits);
  if (!plan.allowed && !unit.restarts.counted(unit.name, key)) {
    throw ApplicationFailure.nonRetryable(
      `restart of ${unit.name} refused: ${plan.reason}`,
      FailureType.RestartBudgetExhausted,
    );
  }
  unit.restarts.record(unit.name, key, cause);
}

/**
 * The restart budget's steps, one implementation for every supervised unit: the plan (backoff and
 * start limit, kept in supervision.db) and the hold after a crash loop.
 */
export function createRestartBudgetActivities(
  deps: Pick<ActivityDeps, 'config' | 'service' | 'registry' | 'modelServer' | 'logger'>,
) {
  return {
    /**
     * Whether the budget of `unit` allows another restart, and after what pause (first at once, then
     * doubling). Once per step: a re-run returns the first plan, not one that counts the restart
     * the first run went on to make.
     */
    async planRestart({ unit }: { unit: SupervisedUnit }): Promise<UnitRestartPlan> {
      return oncePerStep(deps.config.stateDir, async () => {
        const { name, restarts, restartLimits: limits } = restartUnit(deps, unit);
        return {
          ...restarts.plan(name, limits),
          burst: limits.burst,
          intervalMs: limits.intervalMs,
          recentCauses: restarts.recentCauses(name),
        };
      });
    },

    /** Holds further restarts of `unit` after a crash loop, until `guardian resume <mode> <name>`. */
    async holdRestarts({ unit, reason }: { unit: SupervisedUnit; reason: string }): Promise<{ since: number }> {
      const { name, restarts } = restartUnit(deps, unit);
      const hold = restarts.hold(name, reason);
      deps.logger.error(
        { [unit === 'service' ? 'service' : 'modelServer']: name, reason },
        `crash loop: restarts held until guardian resume ${RESUME_MODE[unit]} ${name}`,
      );
      return { since: hold.since };
    },
  };
}
