import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GuardianConfig } from './config/load.js';
import { openStateDatabase } from './state-db.js';
import { RestartBudget, type RestartLimits, type RestartStatus, restartLimitsOf } from './restart-budget.js';

/** The modes whose restarts spend a budget: `guardian resume <mode> <name>` lifts their crash loop's hold. */
export const RESTART_MODES = ['service-down', 'model-server-down'] as const;

/** One supervised unit's budget as `guardian status` shows it: its mode, its limits, where it stands. */
export interface UnitRestartStatus extends RestartStatus {
  readonly mode: (typeof RESTART_MODES)[number];
  readonly intervalMs: number;
}

/** The restart budget in `stateDir/supervision.db`, for `fn`; undefined when Guardian never supervised anything there. */
export function withRestartBudget<T>(stateDir: string, fn: (budget: RestartBudget) => T): T | undefined {
  const file = join(stateDir, 'supervision.db');
  if (!existsSync(file)) return undefined;
  const db = openStateDatabase(file, '');
  try {
    return fn(new RestartBudget(db));
  } finally {
    db.close();
  }
}

/** The supervised units of guardian.yaml with a restart budget: the service, then the model server. */
function budgetedUnits(
  config: GuardianConfig,
): { mode: UnitRestartStatus['mode']; name: string; limits: RestartLimits }[] {
  const units = [
    { mode: 'service-down' as const, unit: config.service },
    { mode: 'model-server-down' as const, unit: config.modelServer },
  ];
  return units.flatMap(({ mode, unit }) =>
    unit ? [{ mode, name: unit.name, limits: restartLimitsOf(unit.restart) }] : [],
  );
}

/** Restart counts, budget left and holds of the guarded service and the model server (for `guardian status`). */
export function restartStatuses(config: GuardianConfig): UnitRestartStatus[] {
  const units = budgetedUnits(config);
  if (units.length === 0) return [];
  return (
    withRestartBudget(config.stateDir, (budget) =>
      units.map(({ mode, name, limits }) => ({ ...budget.status(name, limits), mode, intervalMs: limits.intervalMs })),
    ) ?? []
  );
}

/** One line per unit: restarts in the window and what is left, or the hold and how to lift it. */
export function renderRestarts(statuses: readonly UnitRestartStatus[]): string {
  return statuses
    .map((s) =>
      s.held
        ? `restarts: ${s.name} escalated as a crash loop since ${new Date(s.held.since).toISOString()} (${s.held.reason}); ` +
          `no restart until: guardian resume ${s.mode} ${s.name}\n`
        : `restarts: ${s.name} restarted ${s.restartsInWindow} time(s) in the last ${Math.round(s.intervalMs / 1000)} s; ` +
          `${s.remaining} left` +
          (s.restartsInWindow > 0 ? ` (next after a ${s.nextDelayMs} ms pause)` : '') +
          '\n',
    )
    .join('');
}
