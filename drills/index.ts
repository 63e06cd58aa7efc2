import type { Mode } from '../workflows/definitions.js';
import { databaseCorruptionDrill } from './database-corruption.js';
import { missingConfigDrill } from './missing-config.js';
import type { ModeDrill } from './types.js';

/** Every mode's drill, by mode id. */
export const drills: Partial<Record<Mode, ModeDrill>> = {
  'database-corruption': databaseCorruptionDrill,
  'missing-config': missingConfigDrill,
};
