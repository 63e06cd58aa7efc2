import { statSync } from 'node:fs';
import { corruptions, databaseCorruptionDrill } from './database-corruption.js';
import { damageRootPage, placeSizedDatabase } from './database-size.js';
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
    // A page in the middle of a file this size is most often one the service rarely reads, which
    // only the scrub finds (bench/cold-page.ts measures that); this variant damages the page every
    // query of the service reads, so each size measures the same heal.
    async inject(env, run) {
      const names = Object.keys(corruptions);
      if (names[run % names.length] !== 'overwrite-page') return databaseCorruptionDrill.inject(env, run);
      const world =
        env.runtime.config.databases.find((d) => d.name === 'world_model') ?? env.runtime.config.databases[0];
      if (!world) throw new Error(`${env.runtime.config.file} guards no database to damage`);
      const injectedAt = Date.now();
      await damageRootPage(world.path, 'entities');
      return { resource: world.name, injectedAt, variant: 'hot-page', cleanup: async () => undefined };
    },
  };
}
