// The control actions Guardian calls: POST /guardian/control/<action>. Each validates its
// body (400 with a message), does one thing, and says what it changed so Guardian can undo it.
import { HttpError } from './errors.mjs';

/** Feature names `feature` accepts; `external:<endpoint>` switches off one endpoint. */
const FEATURE_PATTERN = /^(ai|external|writer|snapshots|external:[A-Za-z0-9_-]{1,64})$/;

/** @param {Record<string, any>} body @param {string} key */
function requireBool(body, key) {
  if (typeof body[key] !== 'boolean') throw new HttpError(400, `"${key}" must be true or false`);
  return body[key];
}

/** @param {Record<string, any>} body @param {string} key @param {number} min @param {number} max */
function requireInt(body, key, min, max) {
  const v = body[key];
  if (!Number.isInteger(v) || v < min || v > max)
    throw new HttpError(400, `"${key}" must be an integer ${min}..${max}`);
  return v;
}

/** @param {Record<string, any>} body @param {string} key */
function requireString(body, key) {
  if (typeof body[key] !== 'string' || !body[key]) throw new HttpError(400, `"${key}" must be a non-empty string`);
  return body[key];
}

/** `databases` is optional (all); names must be known so a typo is not silently ignored. */
function databaseList(body, known) {
  if (body.databases === undefined) return [...known];
  const list = body.databases;
  if (!Array.isArray(list) || list.some((n) => !known.includes(n))) {
    throw new HttpError(400, `"databases" must be a list drawn from ${known.join(', ')}`);
  }
  return list;
}

/**
 * @param {import('./app.mjs').App} app
 * @returns {Record<string, (body: Record<string, any>) => { status?: number, body: Record<string, unknown> }>}
 */
export function defineActions(app) {
  const { dbs, caches, limiter, runtime, logger, boot, config } = app;
  return {
    'close-connections': (body) => {
      const names = databaseList(body, dbs.names);
      dbs.close(names);
      return { body: { ok: true, closed: names } };
    },
    'reopen-connections': (body) => {
      const databases = dbs.reopen(databaseList(body, dbs.names));
      const ok = Object.values(databases).every((d) => d.open);
      return {
        status: ok ? 200 : 500,
        body: { ok, databases, ...(ok ? {} : { error: 'some databases could not be reopened' }) },
      };
    },
    'clear-caches': () => ({ body: { ok: true, freedBytes: caches.clearAll() } }),
    'release-memory': () => {
      const rssBefore = process.memoryUsage.rss();
      const gc = /** @type {any} */ (globalThis).gc;
      // Only with node --expose-gc; without it V8 collects on its own schedule.
      if (typeof gc === 'function') gc();
      return { body: { ok: true, gc: typeof gc === 'function', rssBefore, rssAfter: process.memoryUsage.rss() } };
    },
    'set-concurrency': (body) => {
      const limit = requireInt(body, 'limit', 1, 1024);
      app.overrides.concurrency = limit;
      return { body: { ok: true, previous: limiter.setLimit(limit), limit } };
    },
    'flush-logs': () => ({ body: { ok: true, flushedLines: logger.flush() } }),
    'low-memory-mode': (body) => {
      const enabled = requireBool(body, 'enabled');
      const previous = runtime.lowMemory;
      runtime.lowMemory = enabled;
      caches.setLowMemory(enabled);
      return { body: { ok: true, previous, enabled } };
    },
    'cache-size': (body) => {
      const entries = requireInt(body, 'entries', 0, 100000);
      app.overrides.cacheEntries = entries;
      return { body: { ok: true, previous: caches.setEntries(entries), entries } };
    },
    'skip-chunk': (body) => boot.skip(requireString(body, 'chunk')),
    'defer-chunk': (body) => boot.defer(requireString(body, 'chunk')),
    'enable-chunk': (body) => boot.enable(requireString(body, 'chunk')),
    'offline-mode': (body) => {
      const enabled = requireBool(body, 'enabled');
      const previous = runtime.offline;
      runtime.offline = enabled;
      return { body: { ok: true, previous, enabled } };
    },
    feature: (body) => {
      const name = requireString(body, 'name');
      if (!FEATURE_PATTERN.test(name))
        throw new HttpError(400, `unknown feature "${name}" (ai, external, external:<endpoint>, writer, snapshots)`);
      const enabled = requireBool(body, 'enabled');
      const previous = runtime.isEnabled(name);
      if (enabled) runtime.disabledFeatures.delete(name);
      else runtime.disabledFeatures.add(name);
      return { body: { ok: true, name, previous, enabled } };
    },
    'reload-config': () => {
      const status = config.load();
      return {
        status: status.ok ? 200 : 500,
        body: { ok: status.ok, ...(status.error ? { error: status.error } : {}) },
      };
    },
  };
}
