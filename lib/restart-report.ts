import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GuardianConfig } from './config/load.js';
import { openStateDatabase } from './state-db.js';
import { RestartBudget, type RestartLimits, type RestartStatus } from './restart-budget.js';

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

/** guardian.yaml's `service.restart` as the budget reads it. */
export function serviceRestartLimits(config: GuardianConfig): RestartLimits | undefined {
  const restart = config.service?.restart;
  return (
    restart && {
      burst: restart.burst,
      intervalMs: restart.interval,
      backoffMs: restart.backoff,
      maxBackoffMs: restart.maxBackoff,
    }
  );
}

/** Restart counts, budget left and holds of the guarded service (for `guardian status`). */
export function restartStatuses(config: GuardianConfig): RestartStatus[] {
  const limits = serviceRestartLimits(config);
  const name = config.service?.name;
  if (!limits || !name) return [];
  return withRestartBudget(config.stateDir, (budget) => [budget.status(name, limits)]) ?? [];
}

/** One line per unit: restarts in the window and what is left, or the hold and how to lift it. */
export function renderRestarts(statuses: readonly RestartStatus[], config: GuardianConfig): string {
  const limits = serviceRestartLimits(config);
  const window = limits ? `${Math.round(limits.intervalMs / 1000)} s` : 'the window';
  return statuses
    .map((s) =>
      s.held
        ? `restarts: ${s.name} escalated as a crash loop since ${new Date(s.held.since).toISOString()} (${s.held.reason}); ` +
          `no restart until: guardian resume service-down ${s.name}\n`
        : `restarts: ${s.name} restarted ${s.restartsInWindow} time(s) in the last ${window}; ${s.remaining} left` +
          (s.restartsInWindow > 0 ? ` (next after a ${s.nextDelayMs} ms pause)` : '') +
          '\n',
    )
    .join('');
}
