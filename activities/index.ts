import { createAlertActivities } from './alerts.js';
import { createConfigActivities } from './config.js';
import type { ActivityDeps } from './deps.js';
import { createLedgerActivities } from './ledger.js';
import { createServiceActivities } from './service.js';
import { createSqliteActivities } from './sqlite.js';

export type { ActivityDeps } from './deps.js';

/** Every activity Guardian's worker registers, grouped by resource. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createLedgerActivities(deps),
    ...createAlertActivities(deps),
    ...createServiceActivities(deps),
    ...createSqliteActivities(deps),
    ...createConfigActivities(deps),
  };
}

/** The activity interface workflows proxy. */
export type GuardianActivities = ReturnType<typeof createActivities>;
