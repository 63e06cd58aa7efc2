// The three SQLite handles and their health. Every SQLite failure is caught here,
// logged as sqlite.error and remembered; nothing a damaged file does can crash Grace.
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseUnavailableError } from './errors.mjs';
import { DB_NAMES, DB_SPECS, prepareSchema } from './schema.mjs';
import { createSqliteErrorReporter, isSqliteError } from './sqlite-errors.mjs';

/** Short, so a lock held by someone else never stalls the event loop for long. */
const BUSY_TIMEOUT_MS = 100;

/**
 * @param {{ dir: string, logger: import('./logger.mjs').Logger }} options
 */
export function createDatabases({ dir, logger }) {
  const reporter = createSqliteErrorReporter(logger);
  const states = Object.fromEntries(
    DB_NAMES.map((name) => [
      name,
      {
        name,
        path: path.join(dir, DB_SPECS[name].file),
        /** @type {import('better-sqlite3').Database | null} */
        handle: null,
        /** Closed on Guardian's request: nothing reopens it until reopen-connections. */
        closedByControl: false,
        lastError: /** @type {string | undefined} */ (undefined),
        lastErrorCode: /** @type {string | undefined} */ (undefined),
        lastErrorAt: /** @type {number | undefined} */ (undefined),
        errorsSinceCheck: 0,
      },
    ]),
  );

  /** @param {string} name */
  function stateOf(name) {
    const s = states[name];
    if (!s) throw new Error(`unknown database ${name}`);
    return s;
  }

  /** Opens one database (creating and seeding a missing file); false if SQLite refused. */
  function open(name) {
    const s = stateOf(name);
    if (s.handle) return true;
    const isNew = !existsSync(s.path);
    /** @type {import('better-sqlite3').Database | null} */
    let db = null;
    try {
      db = new Database(s.path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      prepareSchema(db, DB_SPECS[name], isNew);
      // Move the seed from the WAL into the main file, so the file holds the data it appears to.
      if (isNew) db.pragma('wal_checkpoint(TRUNCATE)');
      if (isNew) logger.info('db.created', `created and seeded ${DB_SPECS[name].file}`, { db: name, path: s.path });
      s.handle = db;
      return true;
    } catch (err) {
      db?.close();
      if (!isSqliteError(err)) throw err;
      reporter.report(s, /** @type {any} */ (err));
      return false;
    }
  }

  /** Drops a handle; SQLite checkpoints the WAL on close, so the file is whole for a copy. */
  function closeHandle(s) {
    try {
      s.handle?.close();
    } catch (err) {
      if (isSqliteError(err)) reporter.report(s, /** @type {any} */ (err));
    }
    s.handle = null;
  }

  /** Closes on Guardian's request: nothing reopens these until `reopen`. */
  function close(names = DB_NAMES) {
    for (const name of names) {
      const s = stateOf(name);
      s.closedByControl = true;
      closeHandle(s);
    }
  }

  /**
   * Runs `fn` on an open handle; SQLite errors are reported and rethrown for the caller's reply.
   * @template T @param {string} name @param {(db: import('better-sqlite3').Database) => T} fn @returns {T}
   */
  function use(name, fn) {
    const s = stateOf(name);
    if (!s.handle) throw new DatabaseUnavailableError(name);
    try {
      return fn(s.handle);
    } catch (err) {
      if (isSqliteError(err)) reporter.report(s, /** @type {any} */ (err));
      throw err;
    }
  }

  /**
   * Reads every page of the tables through a fresh read-only connection. The long-lived
   * handle keeps pages cached and would not see a file damaged underneath it.
   */
  function fullRead(name) {
    const s = stateOf(name);
    let probe = null;
    try {
      probe = new Database(s.path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      for (const sql of DB_SPECS[name].fullReadSql) probe.prepare(sql).raw().get();
      return true;
    } catch (err) {
      if (!isSqliteError(err)) throw err;
      reporter.report(s, /** @type {any} */ (err));
      return false;
    } finally {
      probe?.close();
    }
  }

  /** Reopens closed handles and proves each file readable; the error stays if it is not. */
  function reopen(names = DB_NAMES) {
    /** @type {Record<string, { open: boolean, error?: string }>} */
    const result = {};
    for (const name of names) {
      const s = stateOf(name);
      s.closedByControl = false;
      s.errorsSinceCheck = 0;
      const ok = open(name) && fullRead(name);
      // A file that still fails stays closed; the once-a-second check retries it, so a
      // restore that lands later is picked up without another call.
      if (ok) clearError(s);
      else closeHandle(s);
      result[name] = ok ? { open: true } : { open: false, error: s.lastError };
    }
    return result;
  }

  function clearError(s) {
    if (s.lastError) logger.info('db.recovered', `database ${s.name} is healthy again`, { db: s.name, path: s.path });
    s.lastError = s.lastErrorCode = s.lastErrorAt = undefined;
  }

  /**
   * Once a second: retry handles that failed on their own, read every page, and clear the
   * remembered error after a whole second without a new one.
   */
  function checkAll() {
    for (const s of Object.values(states)) {
      if (s.closedByControl) continue;
      if (!s.handle && !open(s.name)) continue;
      const ok = fullRead(s.name);
      if (ok && s.errorsSinceCheck === 0 && s.lastError) clearError(s);
      s.errorsSinceCheck = 0;
    }
  }

  return {
    names: DB_NAMES,
    open,
    close,
    reopen,
    use,
    checkAll,
    isOpen: (name) => Boolean(stateOf(name).handle),
    hasErrors: () => Object.values(states).some((s) => s.lastError),
    /** The `databases` object of /guardian/health. */
    health() {
      return Object.fromEntries(
        Object.values(states).map((s) => [
          s.name,
          {
            open: Boolean(s.handle),
            path: s.path,
            ...(s.lastError
              ? { lastError: s.lastError, lastErrorCode: s.lastErrorCode, lastErrorAt: s.lastErrorAt }
              : {}),
          },
        ]),
      );
    },
    /** Used at shutdown. */
    closeAll() {
      for (const s of Object.values(states)) closeHandle(s);
    },
  };
}

/** @typedef {ReturnType<typeof createDatabases>} Databases */
