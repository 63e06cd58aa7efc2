import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { rowCountsOffThread } from '../lib/database-steps.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { identity, ownInode } from '../lib/files.js';
import { digestFile, digestIfExists, type OnBytes } from '../lib/hash.js';
import { processesHoldingOpen, shortDescription } from '../lib/proc.js';
import { databaseFileSet } from '../lib/sqlite-file.js';
import { readJson, writeJsonDurable } from '../lib/step-state.js';
import { FailureType, manifestMissing } from '../lib/failures.js';

/** A file of the set copied aside before a remediation touched it. */
export interface QuarantinedFile {
  name: string;
  existed: boolean;
  size: number;
  sha256: string;
  /**
   * A hard link to the live file's inode, not a copy: shared with the live path until the
   * restore renames a backup over it. Its `sha256` is empty (read when needed, see
   * {@link quarantinedDigest}); `identity` is the inode, size and mtime it was linked with.
   */
  linked?: boolean;
  identity?: string;
}

/**
 * The SHA-256 of a quarantined file: the recorded one for a copy; for a link, read now, after
 * checking that it is still the inode, size and mtime copy-aside linked (nothing writes it once
 * the restore moved the live path off it).
 */
export async function quarantinedDigest(dir: string, entry: QuarantinedFile, signal?: AbortSignal): Promise<string> {
  if (!entry.linked || entry.sha256) return entry.sha256;
  const path = join(dir, entry.name);
  if (entry.identity !== undefined && identity(path) !== entry.identity) {
    throw new Error(
      `${path} was written since copy-aside kept it (inode, size or mtime changed), so it is not the original any more; compare it with the live database by hand`,
    );
  }
  return (await digestFile(path, signal)).sha256;
}

/**
 * What a database held at one moment, enough to tell whether anything was written since: the
 * main file's and the WAL's checksums (an empty WAL counts as none) and the row counts.
 */
export interface DatabaseFingerprint {
  db?: string;
  wal?: string;
  rows: Record<string, number | null>;
  at: number;
}

/** The path of a database named in guardian.yaml, or a non-retryable failure naming the file to fix. */
export function databasePathOf(config: Pick<GuardianConfig, 'databases' | 'file'>, name: string): string {
  const db = config.databases.find((d) => d.name === name);
  if (!db)
    throw ApplicationFailure.nonRetryable(`no database named "${name}" in ${config.file}`, FailureType.UnknownDatabase);
  return db.path;
}

/** Size of a file, 0 when it does not exist. */
export async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Other processes that hold any file of the database's set open, each as `pid N (name)`. */
export function databaseHolders(path: string): string[] {
  return processesHoldingOpen(databaseFileSet(path)).map(shortDescription);
}

/**
 * Refuses (non-retryable) while another process holds a file of the database's set open:
 * replacing a file under it would send its later writes to an unlinked inode, or mix two files.
 */
export function refuseWhileOpen(database: string, path: string, what: string, kept: string): void {
  const holders = databaseHolders(path);
  if (holders.length === 0) return;
  throw ApplicationFailure.nonRetryable(
    `${database} (${path}) is open in ${holders.join(', ')}; ${what} was not done, since swapping the file ` +
      `under it would lose what it writes. Close it (or stop that process), then retry. ${kept}`,
    FailureType.DatabaseInUse,
  );
}

/**
 * The fingerprint of the live database now; `knownSha256` is the main file's checksum when the
 * caller just wrote it (no second read of gigabytes). Row counts run on the SQLite thread, and
 * the hashing and counting overlap.
 */
export async function fingerprintOf(
  path: string,
  signal?: AbortSignal,
  options: { knownSha256?: string; onBytes?: OnBytes } = {},
): Promise<DatabaseFingerprint> {
  const [db, wal, rows] = await Promise.all([
    options.knownSha256 === undefined
      ? digestIfExists(path, signal, options.onBytes)
      : Promise.resolve({ sha256: options.knownSha256 }),
    digestIfExists(`${path}-wal`, signal),
    rowCountsOffThread(path, signal),
  ]);
  return {
    ...(db ? { db: db.sha256 } : {}),
    ...(wal && wal.size > 0 ? { wal: wal.sha256 } : {}),
    rows,
    at: Date.now(),
  };
}

/** The fingerprint of the file set a quarantine manifest describes (what copy-aside saw). */
export async function fingerprintOfQuarantine(
  path: string,
  files: QuarantinedFile[],
  dir: string,
): Promise<DatabaseFingerprint> {
  const db = files.find((f) => f.name === basename(path) && f.existed);
  const wal = files.find((f) => f.name === `${basename(path)}-wal` && f.existed && f.size > 0);
  return {
    ...(db ? { db: await quarantinedDigest(dir, db) } : {}),
    ...(wal ? { wal: wal.sha256 } : {}),
    rows: db ? await rowCountsOffThread(join(dir, db.name)) : {},
    at: 0,
  };
}

/**
 * Before a step writes the live database in place: every quarantined file that is still a hard
 * link to its live file becomes a copy of its own, its checksum recorded in the manifest before
 * the copy is renamed over the link (a crash in between leaves the link, still those bytes, and
 * the re-run copies again). Decided by inode, not by the manifest, so a re-run never skips one.
 */
export async function ownQuarantineCopies(dir: string, path: string, signal?: AbortSignal): Promise<void> {
  const manifest = await readQuarantineManifest(dir);
  for (const file of manifest) {
    const live = join(dirname(path), file.name);
    await ownInode(join(dir, file.name), live, signal, async ({ size, sha256 }) => {
      const updated = manifest.map((f) => (f === file ? { name: f.name, existed: f.existed, size, sha256 } : f));
      await writeJsonDurable(join(dir, 'manifest.json'), updated);
    });
  }
}

/** True when both fingerprints describe the same bytes. */
export function sameContent(a: DatabaseFingerprint, b: DatabaseFingerprint): boolean {
  return a.db === b.db && a.wal === b.wal;
}

/** Where a quarantine keeps the fingerprint of the healed database (written when a heal step puts data in place). */
export function healedPath(quarantineDir: string): string {
  return join(quarantineDir, 'healed.json');
}

/** Records the fingerprint of the database a heal step just put in place. */
export async function recordHealed(
  quarantineDir: string,
  path: string,
  knownSha256?: string,
): Promise<DatabaseFingerprint> {
  const healed = await fingerprintOf(path, undefined, knownSha256 === undefined ? {} : { knownSha256 });
  await writeJsonDurable(healedPath(quarantineDir), healed);
  return healed;
}

/** The quarantine manifest, or a non-retryable failure saying it is missing (never "nothing to restore"). */
export async function readQuarantineManifest(dir: string): Promise<QuarantinedFile[]> {
  const files = await readJson<QuarantinedFile[]>(join(dir, 'manifest.json'));
  if (!files) {
    throw manifestMissing(
      `the quarantine manifest ${join(dir, 'manifest.json')}`,
      'the original files cannot be told apart or verified',
      `Compare ${dir} with the live database by hand.`,
    );
  }
  return files;
}

/** "entities: 2000 → 2003" for each table whose row count differs; a plain note when only contents changed. */
export function describeRowChanges(before: DatabaseFingerprint['rows'], now: DatabaseFingerprint['rows']): string {
  const tables = [...new Set([...Object.keys(before), ...Object.keys(now)])];
  const changed = tables
    .filter((t) => before[t] !== now[t])
    .map((t) => `${t}: ${before[t] ?? 'none'} → ${now[t] ?? 'none'} rows`);
  return changed.length > 0 ? changed.join(', ') : 'row counts unchanged, contents differ';
}
