import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

/** Mode of Guardian's state directory: only its owner may list or enter it. */
export const STATE_DIR_MODE = 0o700;
/** Mode of Guardian's data files (ledger, egress.db with cached replies and queued bodies …). */
export const STATE_FILE_MODE = 0o600;

/**
 * Creates Guardian's state directory (or tightens an existing one) to owner-only access. A shared
 * directory (the filesystem root, the home or temporary directory) is never changed.
 */
export function secureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: STATE_DIR_MODE });
  const shared = new Set(['/', resolve(homedir()), resolve(tmpdir())]);
  if (!shared.has(resolve(dir))) chmodSync(dir, STATE_DIR_MODE);
}

/**
 * Opens one of Guardian's own SQLite files (ledger, registry, egress state): creates its
 * directory (0700) if missing, the file itself 0600 before SQLite opens it (SQLite gives its -wal and -shm
 * files the same mode), WAL mode so readers never block the writer, a busy timeout, and the schema.
 */
export function openStateDatabase(path: string, schema: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: STATE_DIR_MODE });
  createPrivateFile(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(schema);
  return db;
}

/**
 * Creates `path` empty and readable by its owner only ({@link STATE_FILE_MODE}) before anything
 * writes to it, or tightens an existing file to that mode; its content is kept. The one way
 * Guardian creates its data files (backups, quarantine copies, alerts.log, metrics.json …), so none
 * exists for a moment with the umask's mode.
 */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, 'a', STATE_FILE_MODE));
  chmodSync(path, STATE_FILE_MODE);
}
