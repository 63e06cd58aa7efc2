import { createAlertActivities } from './alerts.js';
import { createBootActivities } from './boot.js';
import { createConfigActivities } from './config.js';
import { createDiskActivities } from './disk.js';
import { createMemoryActivities } from './memory.js';
import { createCredentialActivities } from './credentials.js';
import type { ActivityDeps } from './deps.js';
import { createHttpActivities } from './http.js';
import { createLedgerActivities } from './ledger.js';
import { createModelServerActivities } from './model-server.js';
import { createNetworkActivities } from './network.js';
import { createOverrideActivities } from './overrides.js';
import { createPlanActivities } from './plan.js';
import { createPortActivities } from './ports.js';
import { createRestartBudgetActivities } from './restart-budget.js';
import { createServiceActivities } from './service.js';
import { createServiceDownActivities } from './service-down.js';
import { createServiceFeatureActivities } from './service-feature.js';
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
    ...createDiskActivities(deps),
    ...createMemoryActivities(deps),
    ...createNetworkActivities(deps),
    ...createHttpActivities(deps),
    ...createCredentialActivities(deps),
    ...createPortActivities(deps),
    ...createBootActivities(deps),
    ...createModelServerActivities(deps),
    ...createServiceFeatureActivities(deps),
    ...createOverrideActivities(deps),
    ...createServiceDownActivities(deps),
    ...createRestartBudgetActivities(deps),
    ...createPlanActivities(deps),
  };
}

/** The activity interface workflows proxy. */
export type GuardianActivities = ReturnType<typeof createActivities>;
