// The steady background work a real service does: a metric and an audit event every
// 200 ms, a few world-model reads, and once a second a full read of every table plus a
// look at the config file. This is what makes damage show up in the log within ~1 s.
import { DatabaseUnavailableError } from './errors.mjs';
import { DB_SPECS } from './schema.mjs';
import { isSqliteError } from './sqlite-errors.mjs';

/** One tick; full reads run every CHECK_EVERY ticks (once a second). */
const TICK_MS = 200;
const CHECK_EVERY = 5;
/** Append-only tables are trimmed about once a minute. */
const PRUNE_EVERY = 300;

const METRIC_NAMES = ['rss_mb', 'heap_mb', 'cache_mb'];

/**
 * @param {{ dbs: import('./databases.mjs').Databases, config: import('./config.mjs').ConfigStore,
 *   caches: import('./caches.mjs').Caches, runtime: import('./settings.mjs').Runtime,
 *   logger: import('./logger.mjs').Logger }} deps
 */
export function createBackground({ dbs, config, caches, runtime, logger }) {
  let tick = 0;
  /** @type {NodeJS.Timeout | null} */
  let timer = null;
  let lastUnexpectedAt = 0;

  /** SQLite errors are logged by `dbs`; a closed handle just means "paused". Anything else is a bug. */
  function guarded(fn) {
    try {
      fn();
    } catch (err) {
      if (err instanceof DatabaseUnavailableError || isSqliteError(err)) return;
      const now = Date.now();
      if (now - lastUnexpectedAt < 1000) return;
      lastUnexpectedAt = now;
      logger.error('background.error', err instanceof Error ? err.message : String(err));
    }
  }

  function writeMetric() {
    const mem = process.memoryUsage();
    const values = [mem.rss, mem.heapUsed, caches.totalBytes()];
    const i = tick % METRIC_NAMES.length;
    const value = Math.round((values[i] ?? 0) / 1048576);
    dbs.use('metrics', (db) =>
      db.prepare('INSERT INTO samples(ts, name, value) VALUES (?, ?, ?)').run(Date.now(), METRIC_NAMES[i], value),
    );
  }

  function writeAudit() {
    dbs.use('audit', (db) =>
      db.prepare('INSERT INTO events(ts, actor, action) VALUES (?, ?, ?)').run(Date.now(), 'grace', 'heartbeat'),
    );
  }

  function readEntities() {
    dbs.use('world_model', (db) => {
      const { max } = /** @type {{ max: number | null }} */ (db.prepare('SELECT max(id) AS max FROM entities').get());
      const from = Math.floor(Math.random() * Math.max(1, (max ?? 1) - 10));
      return db.prepare('SELECT id, name, data FROM entities WHERE id > ? ORDER BY id LIMIT 10').all(from);
    });
  }

  function prune() {
    for (const name of dbs.names) {
      const sql = DB_SPECS[name].pruneSql;
      if (sql) guarded(() => dbs.use(name, (db) => db.exec(sql)));
    }
  }

  function step() {
    tick += 1;
    if (runtime.isEnabled('writer')) {
      guarded(writeMetric);
      guarded(writeAudit);
      guarded(readEntities);
    }
    if (tick % CHECK_EVERY === 0) {
      guarded(() => dbs.checkAll());
      guarded(() => config.checkForChange());
    }
    if (tick % PRUNE_EVERY === 0) prune();
  }

  return {
    start() {
      if (timer) return;
      timer = setInterval(step, TICK_MS);
      // Shutdown must not wait for this loop.
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

/** @typedef {ReturnType<typeof createBackground>} Background */
