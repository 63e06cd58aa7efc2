// Tables, first-run seed data and the full-read checks of Grace's three databases.
// Seeds are a few hundred rows so each file spans several pages, as a real store would.

/**
 * @typedef {import('better-sqlite3').Database} Db
 * @typedef {object} DbSpec
 * @property {string} file        file name under $GRACE_HOME/databases
 * @property {string} table
 * @property {string} tableSql
 * @property {string} indexSql    created after seeding, so index pages sit at the end of the file
 * @property {(db: Db) => void} seed
 * @property {string[]} fullReadSql  queries that touch every table (and index) page
 * @property {string} [pruneSql]  keeps an append-only table from growing without end
 */

/** Deterministic filler text, so two fresh homes hold the same data. */
function filler(seed, length) {
  const words = ['grace', 'world', 'model', 'local', 'first', 'agent', 'memory', 'signal', 'policy', 'trace'];
  let out = '';
  for (let i = 0; out.length < length; i++) out += words[(seed * 7 + i * 3) % words.length] + ' ';
  return out.slice(0, length);
}

/** @type {Record<'world_model' | 'metrics' | 'audit', DbSpec>} */
export const DB_SPECS = {
  world_model: {
    file: 'world_model.db',
    table: 'entities',
    tableSql: 'CREATE TABLE IF NOT EXISTS entities(id INTEGER PRIMARY KEY, name TEXT, data TEXT)',
    indexSql: 'CREATE INDEX IF NOT EXISTS idx_entities_name ON entities(name)',
    seed(db) {
      const insert = db.prepare('INSERT INTO entities(name, data) VALUES (?, ?)');
      for (let i = 1; i <= 400; i++) {
        insert.run(`entity-${i}`, JSON.stringify({ kind: ['person', 'place', 'tool'][i % 3], notes: filler(i, 260) }));
      }
    },
    fullReadSql: [
      'SELECT count(*), sum(length(data)) FROM entities',
      // Reads the index too: a damaged index page is otherwise found only by quick_check.
      "SELECT count(name) FROM entities WHERE name >= ''",
    ],
  },
  metrics: {
    file: 'metrics.db',
    table: 'samples',
    tableSql: 'CREATE TABLE IF NOT EXISTS samples(ts INTEGER, name TEXT, value REAL)',
    indexSql: 'CREATE INDEX IF NOT EXISTS idx_samples_ts ON samples(ts)',
    seed(db) {
      const insert = db.prepare('INSERT INTO samples(ts, name, value) VALUES (?, ?, ?)');
      const start = Date.now() - 300 * 1000;
      for (let i = 0; i < 300; i++)
        insert.run(start + i * 1000, ['rss_mb', 'heap_mb', 'requests'][i % 3], (i * 37) % 100);
    },
    fullReadSql: ['SELECT count(*), sum(value) FROM samples', 'SELECT count(ts) FROM samples WHERE ts >= 0'],
    pruneSql: 'DELETE FROM samples WHERE rowid <= (SELECT max(rowid) FROM samples) - 50000',
  },
  audit: {
    file: 'audit.db',
    table: 'events',
    tableSql: 'CREATE TABLE IF NOT EXISTS events(ts INTEGER, actor TEXT, action TEXT)',
    indexSql: 'CREATE INDEX IF NOT EXISTS idx_events_ts ON events(ts)',
    seed(db) {
      const insert = db.prepare('INSERT INTO events(ts, actor, action) VALUES (?, ?, ?)');
      const start = Date.now() - 300 * 1000;
      for (let i = 0; i < 300; i++)
        insert.run(start + i * 1000, i % 2 ? 'grace' : 'user', `seed:${filler(i, 40).trim()}`);
    },
    fullReadSql: ['SELECT count(*), sum(length(action)) FROM events', 'SELECT count(ts) FROM events WHERE ts >= 0'],
    pruneSql: 'DELETE FROM events WHERE rowid <= (SELECT max(rowid) FROM events) - 50000',
  },
};

/** The database names, in the order they are opened. */
export const DB_NAMES = /** @type {(keyof typeof DB_SPECS)[]} */ (Object.keys(DB_SPECS));

/**
 * Creates the table, seeds a brand-new file, then adds the index.
 * @param {Db} db @param {DbSpec} spec @param {boolean} isNew
 */
export function prepareSchema(db, spec, isNew) {
  db.exec(spec.tableSql);
  if (isNew) db.transaction(() => spec.seed(db))();
  db.exec(spec.indexSql);
}
