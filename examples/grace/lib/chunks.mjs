// Grace's boot chunks, in the order they run. Each takes an AbortSignal so Guardian's
// skip-chunk / defer-chunk can stop it mid-flight.
import { mkdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { writeDefaultConfig } from './config.mjs';

/**
 * @param {import('./app.mjs').App} app
 * @returns {import('./boot.mjs').ChunkSpec[]}
 */
export function defineChunks(app) {
  const { settings, config, dbs, caches, ai, logger, runtime } = app;
  return [
    {
      name: 'config',
      critical: true,
      deferrable: false,
      async run() {
        // Defaults go to disk only for a brand-new home. A config lost later is an incident
        // for Guardian to repair from its backup, not something to paper over here.
        if (settings.freshHome) {
          try {
            mkdirSync(settings.dirs.config, { recursive: true });
            writeDefaultConfig(config.file);
            logger.info('config.written', 'wrote the default configuration', { path: config.file });
          } catch (err) {
            if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
          }
        }
        // A missing or invalid file logs config.error and leaves the embedded defaults in use.
        config.load();
      },
    },
    {
      name: 'databases',
      critical: true,
      deferrable: false,
      async run() {
        // A database SQLite refuses is logged and retried each second; boot goes on without it.
        for (const name of dbs.names) dbs.open(name);
        app.background.start();
      },
    },
    {
      name: 'cache-warmup',
      critical: false,
      deferrable: true,
      async run(signal) {
        await delay(50, undefined, { signal });
        if (!dbs.isOpen('world_model')) return;
        const rows = dbs.use('world_model', (db) =>
          db.prepare('SELECT id, name, data FROM entities ORDER BY id LIMIT 50').all(),
        );
        caches.world.set('world:50', rows, JSON.stringify(rows).length);
      },
    },
    {
      name: 'model-warmup',
      critical: false,
      deferrable: false,
      async run(signal) {
        if (!runtime.isEnabled('ai')) {
          logger.info('model.warmup', 'feature ai is disabled; not contacting the model server');
          return;
        }
        const { version } = await ai.ping(signal);
        logger.info('model.warmup', `model server ${settings.ollamaHost} answered`, { version });
      },
    },
    {
      name: 'plugins',
      critical: false,
      deferrable: true,
      async run(signal) {
        await delay(20, undefined, { signal });
        app.plugins = [...config.current.plugins];
      },
    },
  ];
}
