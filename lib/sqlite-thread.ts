// Entry point of the SQLite worker thread (lib/sqlite-offload.ts starts it): every check,
// checkpoint, row count and backup of a guarded database runs here, never on Guardian's main
// thread, so the egress proxy, the detectors and the heartbeats keep running meanwhile.
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { backupInSlices } from './sqlite-slices.js';
import type { SqliteReply, SqliteRequest } from './sqlite-ops.js';

/** Map the whole file for checks: quick_check reads pages from the page cache without copying (3× faster). */
const MMAP_BYTES = 2 ** 40;

/** CPU time this thread has used, in ms (Linux: /proc/thread-self/schedstat, in ns). */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
}

function check(path: string, kind: 'quick' | 'integrity', limit: number): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 1000 });
  try {
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    const rows = db.pragma(`${kind}_check(${limit})`) as Record<string, string>[];
    return rows.map((r) => Object.values(r)[0] ?? '').filter((m) => m !== 'ok');
  } finally {
    db.close();
  }
}

/**
 * A check, then a write-lock probe (BEGIN IMMEDIATE): proves the file is readable and writable
 * now, and writes nothing. A read-only connection stays open meanwhile, so closing the probing
 * one is not the last close, which in WAL mode would fold the WAL into the main file (a write
 * to the inode a quarantine may share, see linkAside).
 */
function checkWritable(path: string, kind: 'quick' | 'integrity', limit: number): string[] {
  const holder = openHolder(path);
  const db = new Database(path, { fileMustExist: true, timeout: 2000 });
  try {
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    const rows = db.pragma(`${kind}_check(${limit})`) as Record<string, string>[];
    const problems = rows.map((r) => Object.values(r)[0] ?? '').filter((m) => m !== 'ok');
    if (problems.length === 0) db.exec('BEGIN IMMEDIATE; ROLLBACK');
    return problems;
  } finally {
    db.close();
    holder?.close();
  }
}

/** A read-only connection that has read the header; undefined when the file cannot be read that far. */
function openHolder(path: string): Database.Database | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 1000 });
    db.pragma('schema_version');
    return db;
  } catch {
    db?.close();
    return undefined;
  }
}

function checkpoint(path: string): { busy: number } {
  const db = new Database(path, { fileMustExist: true, timeout: 2000 });
  try {
    const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    return { busy: row?.busy ?? 0 };
  } finally {
    db.close();
  }
}

function rowCounts(path: string): Record<string, number | null> {
  const counts: Record<string, number | null> = {};
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 1000 });
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[];
    for (const { name } of tables) {
      try {
        const row = db.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number };
        counts[name] = row.n;
      } catch {
        counts[name] = null;
      }
    }
  } catch {
    // An unreadable schema means no table can be counted: the caller reports that as unknown.
  } finally {
    db?.close();
  }
  return counts;
}

async function perform(request: SqliteRequest, progress: (done: number, total: number) => void): Promise<unknown> {
  switch (request.op) {
    case 'check':
      return check(request.path, request.kind, request.limit);
    case 'check-writable':
      return checkWritable(request.path, request.kind, request.limit);
    case 'checkpoint':
      return checkpoint(request.path);
    case 'row-counts':
      return rowCounts(request.path);
    case 'backup':
      return backupInSlices(request, progress);
    case 'exit':
      return undefined;
  }
}

parentPort?.on('message', (request: SqliteRequest) => {
  // Retired: messages are handled in order, so no statement is running now.
  if (request.op === 'exit') return process.exit(0);
  const cpuStart = threadCpuMs();
  const wallStart = Date.now();
  const send = (reply: SqliteReply) => parentPort?.postMessage(reply);
  const progress = (done: number, total: number) => send({ id: request.id, type: 'progress', done, total });
  perform(request, progress).then(
    (result) =>
      send({
        id: request.id,
        type: 'done',
        result,
        cpuMs: threadCpuMs() - cpuStart,
        wallMs: Date.now() - wallStart,
      }),
    (err: unknown) => {
      const error = err as { message?: string; code?: string };
      send({ id: request.id, type: 'error', message: String(error.message ?? err), code: error.code ?? '' });
    },
  );
});
