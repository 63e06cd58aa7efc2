import type { Mode } from '../lib/modes.js';
import { apiTimeoutDrill } from './api-timeout.js';
import { databaseCorruptionDrill } from './database-corruption.js';
import { diskFullDrill } from './disk-full.js';
import { invalidCredentialsDrill } from './invalid-credentials.js';
import { missingConfigDrill } from './missing-config.js';
import { modelServerDownDrill } from './model-server-down.js';
import { networkUnreachableDrill } from './network-unreachable.js';
import { outOfMemoryDrill } from './out-of-memory.js';
import { portInUseDrill } from './port-in-use.js';
import { serviceDownDrill } from './service-down.js';
import { slowBootDrill } from './slow-boot.js';
import type { ModeDrill } from './types.js';

/** Every mode's drill, by mode id (in the order `drill all` runs them). */
export const drills: Record<Mode, ModeDrill> = {
  'database-corruption': databaseCorruptionDrill,
  'port-in-use': portInUseDrill,
  'slow-boot': slowBootDrill,
  'model-server-down': modelServerDownDrill,
  'out-of-memory': outOfMemoryDrill,
  'disk-full': diskFullDrill,
  'missing-config': missingConfigDrill,
  'network-unreachable': networkUnreachableDrill,
  'api-timeout': apiTimeoutDrill,
  'invalid-credentials': invalidCredentialsDrill,
  'service-down': serviceDownDrill,
};
