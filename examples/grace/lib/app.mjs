// Wires Grace's parts together into one object the routes, chunks and control actions share.
import { createAi } from './ai.mjs';
import { createBackground } from './background.mjs';
import { createBoot } from './boot.mjs';
import { createCaches, createLimiter } from './caches.mjs';
import { createConfigStore, DEFAULT_CONFIG } from './config.mjs';
import { defineChunks } from './chunks.mjs';
import { createDatabases } from './databases.mjs';
import { createExternal } from './external.mjs';

/**
 * @param {import('./settings.mjs').Settings} settings
 * @param {import('./logger.mjs').Logger} logger
 * @param {import('./settings.mjs').Runtime} runtime
 */
export function createApp(settings, logger, runtime) {
  const caches = createCaches(DEFAULT_CONFIG.limits.cacheEntries);
  caches.setLowMemory(runtime.lowMemory);
  const limiter = createLimiter(DEFAULT_CONFIG.limits.maxConcurrency);
  /** Values set through control hooks win over the config file until Grace restarts. */
  const overrides = {
    concurrency: /** @type {number | undefined} */ (undefined),
    cacheEntries: /** @type {number | undefined} */ (undefined),
  };

  const config = createConfigStore({
    file: settings.configFile,
    logger,
    onApply(c) {
      if (overrides.concurrency === undefined) limiter.setLimit(c.limits.maxConcurrency);
      if (overrides.cacheEntries === undefined) caches.setEntries(c.limits.cacheEntries);
    },
  });
  const dbs = createDatabases({ dir: settings.dirs.databases, logger });
  const ai = createAi({ ollamaHost: settings.ollamaHost, runtime, caches, limiter, config, logger });
  const external = createExternal({
    egressUrl: settings.egressUrl,
    egressToken: settings.egressToken,
    credentialsFile: settings.credentialsFile,
    runtime,
    config,
    limiter,
    logger,
  });
  const background = createBackground({ dbs, config, caches, runtime, logger });

  const app = {
    settings,
    runtime,
    logger,
    caches,
    limiter,
    overrides,
    config,
    dbs,
    ai,
    external,
    background,
    /** @type {string[]} */
    plugins: [],
    /** @type {ReturnType<typeof createBoot>} */
    boot: /** @type {any} */ (null),
    /** booting until boot.done; degraded while a database has an error or the config file is bad. */
    status() {
      if (runtime.booting) return 'booting';
      return dbs.hasErrors() || !config.status.ok ? 'degraded' : 'ok';
    },
  };
  app.boot = createBoot({
    chunks: defineChunks(app),
    logger,
    skip: settings.skipChunks,
    defer: settings.deferChunks,
    slowChunk: settings.slowChunk,
  });
  return app;
}

/** @typedef {ReturnType<typeof createApp>} App */
