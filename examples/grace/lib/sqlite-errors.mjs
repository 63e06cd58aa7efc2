// Turns SQLite failures into the `sqlite.error` log line Guardian's database detector
// reads, and remembers the last one per database for /guardian/health.
import { logWriteError } from './logger.mjs';

/** SQLite's primary result codes; better-sqlite3 reports extended ones (SQLITE_IOERR_SHORT_READ). */
const PRIMARY_CODES = (
  'ERROR INTERNAL PERM ABORT BUSY LOCKED NOMEM READONLY INTERRUPT IOERR CORRUPT NOTFOUND FULL CANTOPEN ' +
  'PROTOCOL EMPTY SCHEMA TOOBIG CONSTRAINT MISMATCH MISUSE NOLFS AUTH FORMAT RANGE NOTADB NOTICE WARNING'
)
  .split(' ')
  .map((c) => `SQLITE_${c}`);

/** Identical errors on one database are logged at most this often. */
const DEDUPE_MS = 1000;

/** True for an error raised by SQLite itself (not, say, a closed-handle TypeError). */
export function isSqliteError(err) {
  return err instanceof Error && typeof (/** @type {any} */ (err).code) === 'string' && err.name === 'SqliteError';
}

/** `SQLITE_IOERR_SHORT_READ` → `SQLITE_IOERR`; detectors match the primary code. */
export function primaryCode(code) {
  let best;
  for (const c of PRIMARY_CODES)
    if ((code === c || code.startsWith(`${c}_`)) && (!best || c.length > best.length)) best = c;
  return best ?? code;
}

/**
 * @typedef {object} DbErrorState
 * @property {string | undefined} lastError
 * @property {string | undefined} lastErrorCode
 * @property {number | undefined} lastErrorAt
 * @property {number} errorsSinceCheck   errors since the last once-a-second check
 */

/**
 * @param {import('./logger.mjs').Logger} logger
 */
export function createSqliteErrorReporter(logger) {
  /** @type {Map<string, { at: number, suppressed: number }>} */
  const lastLogged = new Map();

  /**
   * Records and (deduplicated) logs one failure.
   * @param {{ name: string, path: string } & DbErrorState} db
   * @param {Error & { code?: string }} err
   */
  function report(db, err) {
    const extended = err.code ?? 'SQLITE_ERROR';
    const code = primaryCode(extended);
    db.lastError = err.message;
    db.lastErrorCode = code;
    db.lastErrorAt = Date.now();
    db.errorsSinceCheck += 1;

    const key = `${db.name}\u0000${extended}\u0000${err.message}`;
    const seen = lastLogged.get(key);
    const now = Date.now();
    if (seen && now - seen.at < DEDUPE_MS) {
      seen.suppressed += 1;
      return;
    }
    const repeats = seen?.suppressed ?? 0;
    lastLogged.set(key, { at: now, suppressed: 0 });
    if (lastLogged.size > 256) lastLogged.delete(lastLogged.keys().next().value ?? '');
    logger.error('sqlite.error', err.message, {
      db: db.name,
      path: db.path,
      code,
      ...(extended !== code ? { extendedCode: extended } : {}),
      ...(repeats ? { repeats } : {}),
    });
    // A full disk shows up in SQLite as SQLITE_FULL; say it the way the disk-full detector reads it.
    if (code === 'SQLITE_FULL')
      logWriteError(logger, Object.assign(new Error(err.message), { code: 'ENOSPC' }), db.path);
  }

  return { report };
}
