import { statSync } from 'node:fs';
import { databaseCorruptionDrill } from './database-corruption.js';
import { placeSizedDatabase } from './database-size.js';
import type { ModeDrill } from './types.js';

/**
 * The database-corruption drill on a world_model of at least `bytes` (real rows; built once
 * and cached, then copied into the drill's demo home before the service starts). A larger
 * file left by an earlier drill of a larger size is replaced.
 */
export function sizedDatabaseCorruptionDrill(bytes: number): ModeDrill {
  return {
    ...databaseCorruptionDrill,
    async configure(config) {
      const world = config.databases.find((d) => d.name === 'world_model') ?? config.databases[0];
      if (!world) throw new Error(`${config.file} guards no database to grow`);
      const size = (() => {
        try {
          return statSync(world.path).size;
        } catch {
          return 0;
        }
      })();
      if (size < bytes || size > bytes * 1.25) placeSizedDatabase(world.path, bytes);
      return config;
    },
  };
}
