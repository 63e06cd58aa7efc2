/** Every incident workflow, one per failure mode, registered by the worker. */
export { databaseCorruption } from './database-corruption.js';
export { missingConfig } from './missing-config.js';
