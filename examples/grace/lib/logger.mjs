// JSON-lines logger. Guardian's detectors read $GRACE_HOME/logs/grace.log, so every
// line is one JSON object with a literal "event" name (docs/contract.md, "Log protocol").
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** Lines kept in memory while the log file cannot be written (disk full); oldest dropped first. */
const MAX_BUFFERED_LINES = 5000;
/** Info and warn lines wait at most this long; error lines are written at once. */
const FLUSH_INTERVAL_MS = 100;
/** Codes that mean the disk (not the program) refused the write. */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EFBIG']);

/**
 * @typedef {'info' | 'warn' | 'error'} Level
 * @typedef {Record<string, unknown>} Fields
 * @typedef {ReturnType<typeof createLogger>} Logger
 */

/**
 * @param {{ file: string, echo?: boolean }} options  echo: also print each line to stdout
 */
export function createLogger({ file, echo = true }) {
  /** @type {string[]} */
  let buffer = [];
  let dropped = 0;
  let lastWriteErrorAt = 0;
  const timer = setInterval(() => flush(), FLUSH_INTERVAL_MS);
  // The flush timer must not keep the process alive on its own.
  timer.unref();

  /** Appends buffered lines; returns how many reached the file. */
  function flush() {
    if (buffer.length === 0) return 0;
    const text = buffer.join('');
    try {
      appendWithMkdir(file, text);
    } catch (err) {
      reportOwnWriteError(/** @type {NodeJS.ErrnoException} */ (err));
      return 0;
    }
    const count = buffer.length;
    buffer = [];
    return count;
  }

  /**
   * The log file itself cannot take the write.error line, so it goes to stdout only
   * (Guardian reads the service's stdout too) and the lines stay buffered for a retry.
   * @param {NodeJS.ErrnoException} err
   */
  function reportOwnWriteError(err) {
    if (buffer.length > MAX_BUFFERED_LINES) {
      dropped += buffer.length - MAX_BUFFERED_LINES;
      buffer = buffer.slice(-MAX_BUFFERED_LINES);
    }
    const now = Date.now();
    if (now - lastWriteErrorAt < 1000) return;
    lastWriteErrorAt = now;
    const line = format('error', 'write.error', describeWriteError(err), { code: err.code, path: file, dropped });
    if (echo) process.stdout.write(line);
  }

  /**
   * @param {Level} level
   * @param {string} event  stable, literal event name detectors match on
   * @param {string} msg
   * @param {Fields} [fields]
   */
  function log(level, event, msg, fields = {}) {
    const line = format(level, event, msg, fields);
    if (echo) process.stdout.write(line);
    buffer.push(line);
    // Errors are what detectors wait for: write them now rather than on the next tick.
    if (level === 'error') flush();
  }

  return {
    file,
    flush,
    /** @param {string} event @param {string} msg @param {Fields} [fields] */
    info: (event, msg, fields) => log('info', event, msg, fields),
    /** @param {string} event @param {string} msg @param {Fields} [fields] */
    warn: (event, msg, fields) => log('warn', event, msg, fields),
    /** @param {string} event @param {string} msg @param {Fields} [fields] */
    error: (event, msg, fields) => log('error', event, msg, fields),
    /** Number of lines lost because the file stayed unwritable. */
    droppedLines: () => dropped,
    close() {
      clearInterval(timer);
      flush();
    },
  };
}

/**
 * One line: ts and level first, msg last, so the examples in docs/contract.md read the same.
 * @param {Level} level @param {string} event @param {string} msg @param {Fields} fields
 */
function format(level, event, msg, fields) {
  return JSON.stringify({ ts: Date.now(), level, event, ...fields, msg }) + '\n';
}

/** Writes, recreating the logs directory if a cleanup removed it. */
function appendWithMkdir(file, text) {
  try {
    appendFileSync(file, text);
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, text);
  }
}

/** The operating system's wording, which the disk-full detector matches on. */
export function describeWriteError(err) {
  if (err.code === 'ENOSPC') return 'No space left on device';
  if (err.code === 'EDQUOT') return 'Disk quota exceeded';
  return err.message;
}

/**
 * Logs a failed file write as `write.error` when the disk refused it; returns true if it did.
 * @param {Logger} logger @param {NodeJS.ErrnoException} err @param {string} file
 */
export function logWriteError(logger, err, file) {
  if (!DISK_CODES.has(String(err.code))) return false;
  logger.error('write.error', describeWriteError(err), { code: err.code, path: file });
  return true;
}
