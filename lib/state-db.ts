import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Opens one of Guardian's own SQLite files (ledger, registry, egress state): creates its
 * directory, WAL mode so readers never block the writer, a busy timeout, and the schema.
 */
export function openStateDatabase(path: string, schema: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(schema);
  return db;
}
