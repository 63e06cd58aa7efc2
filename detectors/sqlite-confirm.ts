import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { checkHeader } from '../lib/sqlite-file.js';

const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');

// Runs in a worker thread: quick_check reads every page, which must not block Guardian's event loop.
const QUICK_CHECK = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.path, { readonly: true, fileMustExist: true, timeout: 1000 });
  const rows = db.pragma('quick_check(5)').map((row) => String(row.quick_check));
  parentPort.postMessage({ ok: rows.length === 1 && rows[0] === 'ok', detail: rows.join('; ') });
} catch (err) {
  parentPort.postMessage({ ok: false, code: String(err.code || 'SQLITE_ERROR'), detail: String(err.message) });
} finally {
  if (db) db.close();
}
`;

/** What a confirmation found: the damage, with the SQLite code that names it. */
export interface ConfirmedDamage {
  readonly code: string;
  readonly problem: string;
}

/**
 * Confirms (or not) what a log line claims about a database, by looking at the file itself:
 * the header, then `quick_check` in a worker thread. Returns the damage found, or undefined when
 * the database is sound — or cannot be judged now (locked, timed out): a claim alone is never
 * damage.
 */
export async function confirmCorruption(path: string, timeoutMs = 10_000): Promise<ConfirmedDamage | undefined> {
  const header = await checkHeader(path);
  if (!header.ok && header.code !== 'EMPTY' && header.code !== 'ENOENT')
    return { code: header.code ?? 'SQLITE_CORRUPT', problem: header.problem ?? 'bad header' };
  if (header.code === 'ENOENT') return { code: 'ENOENT', problem: 'file is missing' };
  const result = await quickCheck(path, timeoutMs);
  if (!result || result.ok) return undefined;
  const code = result.code ?? 'SQLITE_CORRUPT';
  if (/^SQLITE_(BUSY|LOCKED|CANTOPEN)/.test(code)) return undefined;
  return { code, problem: `quick_check: ${result.detail.slice(0, 200)}` };
}

function quickCheck(
  path: string,
  timeoutMs: number,
): Promise<{ ok: boolean; code?: string; detail: string } | undefined> {
  return new Promise((resolve) => {
    const worker = new Worker(QUICK_CHECK, { eval: true, workerData: { path, module: betterSqlite3 } });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve(undefined);
    }, timeoutMs);
    worker.once('message', (message: { ok: boolean; code?: string; detail: string }) => {
      clearTimeout(timer);
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

/**
 * Confirms lock trouble a log line claims: true when a write transaction cannot start now
 * (another connection holds the write lock). Starts and rolls back an empty transaction; changes
 * nothing.
 */
export function confirmWriteLocked(path: string): boolean {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 0 });
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return false;
  } catch (err) {
    return /^SQLITE_(BUSY|LOCKED)/.test((err as { code?: string }).code ?? '');
  } finally {
    db?.close();
  }
}
