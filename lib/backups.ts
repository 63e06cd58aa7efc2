import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { namesIn, newestFirst } from './dir-listing.js';
import { digestFile } from './hash.js';
import type { BackupOutcome } from './sqlite-ops.js';
import { backupOffThread, sqliteThreads } from './sqlite-offload.js';
import { createPrivateFile } from './state-db.js';

/** A verified backup of one database. Only verified backups exist under their final name. */
export interface BackupInfo {
  database: string;
  path: string;
  takenAt: number;
  size: number;
}

/** Directory holding the backups of one database. */
export function backupDir(stateDir: string, database: string): string {
  return join(stateDir, 'backups', database);
}

/** Verified backups of a database, newest first. */
export function listBackups(stateDir: string, database: string): BackupInfo[] {
  return newestFirst(backupDir(stateDir, database), /^(\d+)\.db$/).map(({ path, stamp }) => ({
    database,
    path,
    takenAt: stamp,
    size: statSync(path).size,
  }));
}

/** Runs `PRAGMA quick_check` on a file; returns the problems found (empty when sound). */
export function quickCheck(path: string, limit = 10): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma(`quick_check(${limit})`) as { quick_check: string }[];
    return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  } finally {
    db.close();
  }
}

/**
 * The size and SHA-256 recorded when a backup was taken, if the backup still has that size;
 * undefined for a backup without one (taken by an older Guardian) or one that changed since.
 */
export async function recordedDigest(path: string): Promise<{ size: number; sha256: string } | undefined> {
  try {
    const recorded = JSON.parse(await readFile(`${path}.sha256`, 'utf8')) as { size: number; sha256: string };
    return (await stat(path)).size === recorded.size ? recorded : undefined;
  } catch {
    return undefined;
  }
}

/** Leftovers of an interrupted backup: the `.partial` file and the companions SQLite made beside it. */
const PARTIAL = /\.partial(-wal|-shm|-journal)?$/;

/**
 * Removes what a backup interrupted by a crash or a kill left in a database's backup directory
 * (a full-size `.partial` and its `-wal`/`-shm`). Called before the first backup of a run, when
 * no backup of this Guardian can be in flight; returns the paths removed.
 */
export function removePartialBackups(stateDir: string, database: string): string[] {
  const dir = backupDir(stateDir, database);
  const removed = namesIn(dir)
    .filter((name) => PARTIAL.test(name))
    .map((name) => join(dir, name));
  for (const path of removed) rmSync(path, { force: true });
  return removed;
}

/** Options of {@link takeBackup}. */
export interface BackupOptions {
  /** Longest a slice of the copy may hold the source's read lock (ms). @default 20 */
  sliceMs?: number;
  /** Progress of the copy, in pages. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Takes a backup with SQLite's online backup API on the SQLite thread, in slices of pages that
 * never hold the service's writers off for long, verifies it with quick_check, and only then
 * gives it its final name; keeps the newest `keep`. Nothing is left beside it (no `-wal`/`-shm`).
 * Throws when the source cannot be read (a corrupt source never produces a "good" backup).
 */
export async function takeBackup(
  source: { name: string; path: string },
  stateDir: string,
  keep: number,
  now = Date.now(),
  options: BackupOptions = {},
): Promise<BackupInfo & { copy: BackupOutcome }> {
  const dir = backupDir(stateDir, source.name);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${now}.db.partial`);
  let copy: BackupOutcome;
  try {
    // SQLite copies into the file as it finds it, and gives its companions (-journal, -wal) the same mode.
    createPrivateFile(tmp);
    copy = (
      await backupOffThread(source.path, tmp, {
        ...(options.sliceMs === undefined ? {} : { sliceMs: options.sliceMs }),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      })
    ).result;
    const { result: problems } = await sqliteThreads.background.run<string[]>({
      op: 'check',
      path: tmp,
      kind: 'quick',
      limit: 10,
    });
    if (problems.length > 0) throw new Error(`backup of ${source.name} failed verification: ${problems.join('; ')}`);
  } catch (err) {
    removeCompanions(tmp, true);
    throw err;
  }
  // The copy's header keeps the source's WAL mode, so opening it to check made a -wal and -shm.
  removeCompanions(tmp, false);
  const path = join(dir, `${now}.db`);
  // Its checksum, recorded now, spares a restore from reading the whole backup before copying it.
  const digest = await digestFile(tmp);
  createPrivateFile(`${path}.sha256`);
  writeFileSync(`${path}.sha256`, JSON.stringify(digest));
  renameSync(tmp, path);
  for (const old of listBackups(stateDir, source.name).slice(keep)) {
    rmSync(old.path, { force: true });
    rmSync(`${old.path}.sha256`, { force: true });
  }
  return { database: source.name, path, takenAt: now, size: statSync(path).size, copy };
}

function removeCompanions(path: string, andFile: boolean): void {
  for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${path}${suffix}`, { force: true });
  if (andFile) rmSync(path, { force: true });
}
