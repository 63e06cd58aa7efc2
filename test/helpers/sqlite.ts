import { readFileSync } from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import Database from 'better-sqlite3';
import { sha256 as sha256Bytes } from '../../lib/hash.js';

/** Creates a database with a table, an index and enough rows to span many pages. */
export function seedDatabase(path: string, rows = 2000, journalMode: 'wal' | 'delete' = 'wal'): void {
  const db = new Database(path);
  db.pragma(`journal_mode = ${journalMode}`);
  db.exec(
    'CREATE TABLE entities (id INTEGER PRIMARY KEY, name TEXT, data TEXT); CREATE INDEX entities_name ON entities (name);',
  );
  const insert = db.prepare('INSERT INTO entities (name, data) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`entity-${i}`, `payload-${i}-${'x'.repeat(200)}`);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Every row of `entities`, for comparing a restored database with its backup. */
export function allRows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM entities ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** SHA-256 of a file's bytes. */
export function sha256(path: string): string {
  return sha256Bytes(readFileSync(path));
}

/** An activity environment of one step of one database-corruption run: the same `runId` + `activityId` is the same step re-run. */
export function envFor(runId: string, activityId = '1'): MockActivityEnvironment {
  return new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: `database-corruption:h:${runId}`, runId },
  });
}

/** Runs one activity in `env`, typed. */
export function inEnv<A, R>(env: MockActivityEnvironment, fn: (arg: A) => Promise<R>, arg: A): Promise<R> {
  return env.run(fn, arg) as Promise<R>;
}
