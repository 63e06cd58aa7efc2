import { stat } from 'node:fs/promises';
import { type SqliteThread, SqliteThreadError, sqliteThreads } from './sqlite-offload.js';
import { checkHeader } from './sqlite-file.js';

/** What a database inspection found. */
export interface DatabaseVerdict {
  verdict: 'ok' | 'corrupt' | 'notadb' | 'locked' | 'missing';
  problems: string[];
  walBytes: number;
}

const isLock = (code: string) => code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');

/**
 * Header check (constant cost), then integrity_check and a write-lock probe on the SQLite
 * thread, so a check of gigabytes never stalls Guardian's event loop.
 */
export async function inspectOffThread(
  path: string,
  options: { signal?: AbortSignal; thread?: SqliteThread } = {},
): Promise<DatabaseVerdict> {
  const walBytes = await sizeOf(`${path}-wal`);
  const header = await checkHeader(path);
  if (header.code === 'ENOENT') return { verdict: 'missing', problems: [header.problem ?? 'missing'], walBytes };
  if (header.code === 'SQLITE_NOTADB')
    return { verdict: 'notadb', problems: [header.problem ?? 'not a database'], walBytes };
  if (!header.ok) return { verdict: 'corrupt', problems: [header.problem ?? 'corrupt'], walBytes };
  try {
    const { result: problems } = await (options.thread ?? sqliteThreads.heal).run<string[]>(
      { op: 'check-writable', path, kind: 'integrity', limit: 20 },
      options.signal ? { signal: options.signal } : {},
    );
    return problems.length > 0 ? { verdict: 'corrupt', problems, walBytes } : { verdict: 'ok', problems: [], walBytes };
  } catch (err) {
    if (!(err instanceof SqliteThreadError)) throw err;
    if (isLock(err.code)) return { verdict: 'locked', problems: [err.message], walBytes };
    if (err.code === 'SQLITE_NOTADB') return { verdict: 'notadb', problems: [err.message], walBytes };
    return { verdict: 'corrupt', problems: [`${err.code}: ${err.message}`], walBytes };
  }
}

/** quick_check and a write-lock probe on the SQLite thread; throws naming the problems. */
export async function verifyOffThread(database: string, path: string, signal?: AbortSignal): Promise<void> {
  const { result: problems } = await sqliteThreads.heal.run<string[]>(
    { op: 'check-writable', path, kind: 'quick', limit: 5 },
    signal ? { signal } : {},
  );
  if (problems.length > 0) throw new Error(`${database} still fails quick_check: ${problems.join('; ')}`);
}

/** `wal_checkpoint(TRUNCATE)` on the SQLite thread; returns whether a reader or writer blocked it. */
export async function checkpointOffThread(path: string, signal?: AbortSignal): Promise<{ busy: boolean }> {
  const { result } = await sqliteThreads.heal.run<{ busy: number }>(
    { op: 'checkpoint', path },
    signal ? { signal } : {},
  );
  return { busy: result.busy !== 0 };
}

/** Row counts per table (null for a table that cannot be read), on the SQLite thread. */
export async function rowCountsOffThread(path: string, signal?: AbortSignal): Promise<Record<string, number | null>> {
  const { result } = await sqliteThreads.heal.run<Record<string, number | null>>(
    { op: 'row-counts', path },
    signal ? { signal } : {},
  );
  return result;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}
