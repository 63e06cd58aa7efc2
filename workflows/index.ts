/** Every incident workflow, one per failure mode, registered by the worker. */
export { databaseCorruption } from './database-corruption.js';
export { modelServerDown } from './model-server-down.js';
export { portInUse } from './port-in-use.js';
export { slowBoot } from './slow-boot.js';
export { diskFull } from './disk-full.js';
export { missingConfig } from './missing-config.js';
export { outOfMemory } from './out-of-memory.js';
export { networkUnreachable } from './network-unreachable.js';
export { offlineWatch } from './offline-watch.js';
export { apiTimeout } from './api-timeout.js';
export { circuitWatch } from './circuit-watch.js';
export { invalidCredentials } from './invalid-credentials.js';
export { credentialWatch } from './credential-watch.js';
export { guardianWarmUp } from './warm-up.js';
export { clearOverride } from './clear-override.js';
export { serviceDown } from './service-down.js';
