import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { copyFile, lstat, mkdir, readFile, rename, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { sha256 } from '../lib/hash.js';
import {
  dirsByMount,
  type FoundFile,
  freeBytes,
  type GuardedDir,
  isInside,
  listFiles,
  mountOf,
  openFilesUnder,
  snapshotsBeyondKeep,
} from '../lib/disk.js';
import type { ActivityDeps } from './deps.js';
import { fsyncFile } from '../lib/atomic-file.js';
import { FailureType } from '../lib/failures.js';

/** Free space on a guarded filesystem against its threshold. */
export interface DiskMeasure {
  free: number;
  total: number;
  minFree: number;
  /** Bytes still missing to reach minFree (0 when healthy). */
  short: number;
}

/** What a cleanup step did; the file-by-file record is in `manifest` (kept out of the history). */
export interface CleanupResult {
  /** Files acted on. */
  count: number;
  /** Bytes freed on the filesystem (statfs before and after). */
  freed: number;
  /** Files left alone: open in some process, outside the directory, or no room to work. */
  skipped: number;
  manifest: string;
  /** Removed files went to this trash on secondary storage (undoable); undefined: gone for good. */
  trash?: string;
  free: number;
  short: number;
}

interface CompressedEntry {
  path: string;
  gz: string;
  sha256: string;
  mtimeMs: number;
}
interface RemovedEntry {
  path: string;
  size: number;
  mtimeMs: number;
  /** Where it went, when it went to the trash. */
  trashed?: string;
}
interface MovedEntry {
  path: string;
  to: string;
  size: number;
}

/** Disk activities for disk-full: measure, compress old logs, remove old snapshots and temp files, move artifacts, verify. */
export function createDiskActivities({ config }: Pick<ActivityDeps, 'config'>) {
  const disk = () => {
    if (!config.disk)
      throw ApplicationFailure.nonRetryable(`${config.file} has no disk: section`, FailureType.NoDiskSection);
    return config.disk;
  };
  const dirsOn = (resource: string, kind?: GuardedDir['kind']): GuardedDir[] =>
    (dirsByMount(disk()).get(resource) ?? []).filter((d) => kind === undefined || d.kind === kind);
  const measure = (resource: string): DiskMeasure => {
    const { free, total } = freeBytes(resource);
    const minFree = disk().minFree;
    return { free, total, minFree, short: Math.max(0, minFree - free) };
  };
  const manifestPath = async (step: string): Promise<string> => {
    const { info } = Context.current();
    const dir = join(config.stateDir, 'disk', info.workflowExecution?.runId ?? info.activityId);
    await mkdir(dir, { recursive: true });
    return join(dir, `${step}.json`);
  };
  /** Candidates in dirs of a kind: regular files, inside their dir, not held open by any process. */
  const candidates = async (resource: string, kind: GuardedDir['kind']) => {
    const dirs = dirsOn(resource, kind);
    const open = await openFilesUnder(dirs.map((d) => d.path));
    const files: (FoundFile & { dir: string })[] = [];
    let skipped = 0;
    for (const dir of dirs) {
      // /proc/<pid>/fd names resolved paths: compare those when the configured path goes through a symlink.
      const real = realpathOrSelf(dir.path);
      // The walk never follows a symlink, so files are inside by construction; this checks again
      // (once per directory) in case a directory was swapped for a symlink meanwhile.
      const inside = new Map<string, boolean>();
      for (const file of await listFiles(dir.path)) {
        const parent = dirname(file.path);
        let ok = inside.get(parent);
        if (ok === undefined) inside.set(parent, (ok = isInside(file.path, dir.path)));
        if (open.has(join(real, relative(dir.path, file.path))) || !ok) skipped++;
        else files.push({ ...file, dir: dir.path });
      }
    }
    return { files, skipped };
  };
  /** A trash on secondary storage, when one is configured on another filesystem with room for `bytes`. */
  const trashFor = async (resource: string, bytes: number): Promise<string | undefined> => {
    const secondary = disk().secondary;
    if (!secondary) return undefined;
    await mkdir(secondary, { recursive: true });
    if (mountOf(secondary) === resource || freeBytes(secondary).free < bytes * 1.1) return undefined;
    const { info } = Context.current();
    return join(secondary, 'guardian-trash', info.workflowExecution?.runId ?? info.activityId);
  };
  const beat = (detail: string) => {
    if (!Context.current().info.isLocal) Context.current().heartbeat(detail);
  };

  /** Removes (to the trash when there is one) the files chosen by `pick` from dirs of one kind. */
  const removeFiles = async (
    resource: string,
    kind: 'snapshots' | 'temp',
    pick: (files: (FoundFile & { dir: string })[]) => (FoundFile & { dir: string })[],
  ): Promise<CleanupResult> => {
    const manifest = await manifestPath(kind);
    const done = await readJson<CleanupResult>(`${manifest}.result`);
    if (done) return done; // a retry after the work was done
    const before = freeBytes(resource).free;
    const { files, skipped } = await candidates(resource, kind);
    const chosen = pick(files);
    const trash = await trashFor(
      resource,
      chosen.reduce((n, f) => n + f.size, 0),
    );
    const removed: RemovedEntry[] = [];
    for (const file of chosen) {
      const st = await lstat(file.path).catch(() => undefined);
      if (!st?.isFile() || st.ino !== file.ino) continue; // replaced or gone since the scan
      if (trash) {
        const to = join(trash, relative(resource, file.path));
        await mkdir(dirname(to), { recursive: true });
        await moveFile(file.path, to);
        removed.push({ path: file.path, size: file.size, mtimeMs: file.mtimeMs, trashed: to });
      } else {
        await unlink(file.path);
        removed.push({ path: file.path, size: file.size, mtimeMs: file.mtimeMs });
      }
      if (removed.length % 500 === 0) beat(`${removed.length} files`);
    }
    return finishCleanup(manifest, removed, before, skipped, measure(resource), trash);
  };

  return {
    /** Free space on the filesystem mounted at `resource` against `disk.minFree`. */
    async measureDisk({ resource }: { resource: string }): Promise<DiskMeasure> {
      return measure(resource);
    },

    /**
     * Compresses (gzip) the log files older than `disk.logs.olderThan`: `<name>` becomes
     * `<name>.gz` with the same mtime. Lossless, so a rollback restores them byte for byte.
     * A file that does not fit while compressing is skipped, never half-written.
     */
    async compressOldLogs({ resource }: { resource: string }): Promise<CleanupResult> {
      const manifest = await manifestPath('logs');
      const done = await readJson<CleanupResult>(`${manifest}.result`);
      if (done) return done;
      const before = freeBytes(resource).free;
      const cutoff = Date.now() - disk().logs.olderThan;
      const { files, skipped: openOrOutside } = await candidates(resource, 'logs');
      const old = files
        .filter((f) => f.mtimeMs < cutoff && !f.path.endsWith('.gz'))
        .sort((a, b) => a.mtimeMs - b.mtimeMs);
      let skipped = openOrOutside;
      // Three passes: compress everything to temporary names; fsync those together (one at a time
      // is what makes this slow on a real disk); only then swap them in and remove the originals.
      const written: (CompressedEntry & { tmp: string; seen: string })[] = [];
      for (const [i, file] of old.entries()) {
        const gz = freeNameSync(`${file.path}.gz`);
        const tmp = `${gz}.guardian-tmp`;
        try {
          const seen = identity(file.path);
          written.push({ path: file.path, gz, tmp, seen, sha256: await gzipToTemp(file, tmp), mtimeMs: file.mtimeMs });
        } catch (err) {
          rmSync(tmp, { force: true });
          if (!isNoSpace(err)) throw err;
          skipped++;
        }
        if (i % 50 === 49) {
          beat(`${i + 1} logs compressed`);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      for (let i = 0; i < written.length; i += 16)
        await Promise.all(written.slice(i, i + 16).map((w) => fsyncFile(w.tmp)));
      const entries: CompressedEntry[] = [];
      for (const { tmp, seen, ...entry } of written) {
        // A log written to since it was read would lose the new lines: leave it as it is.
        if (identity(entry.path) !== seen) {
          rmSync(tmp, { force: true });
          skipped++;
          continue;
        }
        renameSync(tmp, entry.gz);
        utimesSync(entry.gz, new Date(), new Date(entry.mtimeMs));
        unlinkSync(entry.path);
        entries.push(entry);
      }
      return finishCleanup(manifest, entries, before, skipped, measure(resource));
    },

    /** Rollback of {@link compressOldLogs}: decompresses each log back, checked against its SHA-256. */
    async decompressLogs({ manifest }: { manifest: string }): Promise<{ restored: number }> {
      const entries = (await readJson<CompressedEntry[]>(manifest)) ?? [];
      let restored = 0;
      for (const entry of entries) {
        if (await exists(entry.path)) continue; // already back
        const tmp = `${entry.path}.guardian-tmp`;
        await pipeline(createReadStream(entry.gz), createGunzip(), createWriteStream(tmp));
        if (sha256(await readFile(tmp)) !== entry.sha256) {
          await rm(tmp, { force: true });
          throw new Error(`${entry.gz} does not decompress to the original ${entry.path}`);
        }
        await rename(tmp, entry.path);
        await utimes(entry.path, new Date(), new Date(entry.mtimeMs));
        await rm(entry.gz, { force: true });
        restored++;
      }
      return { restored };
    },

    /**
     * Removes the oldest snapshots beyond the newest `disk.snapshots.keep` in each snapshot
     * directory, counting top-level entries (a directory-style snapshot is one snapshot).
     */
    async removeOldSnapshots({ resource }: { resource: string }): Promise<CleanupResult> {
      const keep = disk().snapshots.keep;
      return removeFiles(resource, 'snapshots', (files) => snapshotsBeyondKeep(files, keep));
    },

    /** Removes temporary files older than `disk.temp.olderThan` (a file being written is open, so never touched). */
    async clearTempFiles({ resource }: { resource: string }): Promise<CleanupResult> {
      const cutoff = Date.now() - disk().temp.olderThan;
      return removeFiles(resource, 'temp', (files) => files.filter((f) => f.mtimeMs < cutoff));
    },

    /**
     * Rollback of a removal: moves trashed files back. Files removed without a trash cannot come
     * back; this says so (and fails, so the rollback reports it) instead of pretending.
     */
    async restoreRemovedFiles({ manifest }: { manifest: string }): Promise<{ restored: number }> {
      const entries = (await readJson<RemovedEntry[]>(manifest)) ?? [];
      let restored = 0;
      const lost: RemovedEntry[] = [];
      for (const entry of entries) {
        if (!entry.trashed) {
          lost.push(entry);
          continue;
        }
        if (await exists(entry.path)) continue;
        await mkdir(dirname(entry.path), { recursive: true });
        await moveFile(entry.trashed, entry.path);
        restored++;
      }
      if (lost.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `${lost.length} file(s) were deleted with no trash on secondary storage and cannot be restored ` +
            `(${lost.reduce((n, e) => n + e.size, 0)} bytes; the list is in ${manifest}); ${restored} restored from the trash`,
          FailureType.CannotUndoDeletion,
        );
      }
      return { restored };
    },

    /** Moves artifacts, oldest first, to `disk.secondary` until twice minFree is free. */
    async moveArtifacts({ resource }: { resource: string }): Promise<CleanupResult> {
      const manifest = await manifestPath('artifacts');
      const done = await readJson<CleanupResult>(`${manifest}.result`);
      if (done) return done;
      const secondary = disk().secondary;
      const before = freeBytes(resource).free;
      const moved: MovedEntry[] = [];
      let skipped = 0;
      if (secondary && mountOf(secondary) !== resource) {
        const { files, skipped: openOrOutside } = await candidates(resource, 'artifacts');
        skipped = openOrOutside;
        const target = 2 * disk().minFree;
        for (const file of files.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
          if (freeBytes(resource).free >= target) break;
          if (freeBytes(secondary).free < file.size * 1.1) {
            skipped++;
            continue;
          }
          const to = join(secondary, 'artifacts', basename(file.dir), relative(file.dir, file.path));
          await mkdir(dirname(to), { recursive: true });
          // An artifact from an earlier incident may hold the name: record where this one really went.
          const dest = await freeName(to);
          await moveFile(file.path, dest);
          moved.push({ path: file.path, to: dest, size: file.size });
        }
      }
      return finishCleanup(manifest, moved, before, skipped, measure(resource));
    },

    /** Rollback of {@link moveArtifacts}: moves them back while there is room. */
    async returnArtifacts({ manifest }: { manifest: string }): Promise<{ returned: number }> {
      const entries = (await readJson<MovedEntry[]>(manifest)) ?? [];
      for (const entry of entries) {
        if (await exists(entry.path)) continue;
        await mkdir(dirname(entry.path), { recursive: true });
        await moveFile(entry.to, entry.path);
      }
      return { returned: entries.length };
    },

    /** Confirms free space is back over the threshold; returns when it was confirmed. */
    async verifyDisk({ resource }: { resource: string }): Promise<{ healthyAt: number; detail?: string }> {
      const m = measure(resource);
      if (m.short > 0) {
        throw ApplicationFailure.nonRetryable(
          `${resource} has ${m.free} bytes free, ${m.short} short of the ${m.minFree} wanted; free space by hand`,
          FailureType.StillShort,
        );
      }
      return { healthyAt: Date.now() };
    },
  };
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** `path`, or `path` with a numeric suffix when that name is taken. */
async function freeName(path: string): Promise<string> {
  if (!(await exists(path))) return path;
  for (let i = 1; i < 1000; i++) if (!(await exists(`${path}.${i}`))) return `${path}.${i}`;
  throw new Error(`no free name near ${path}`);
}

/** Logs up to this size are compressed in memory; larger ones are streamed. */
const IN_MEMORY_LIMIT = 16 * 1048576;

/**
 * Compresses a log to `tmp` (not yet fsynced); returns the original's SHA-256. Small logs are
 * compressed in memory with synchronous calls (far cheaper per file than a chain of promises),
 * large ones streamed.
 */
async function gzipToTemp(file: FoundFile, tmp: string): Promise<string> {
  if (file.size <= IN_MEMORY_LIMIT) {
    const data = readFileSync(file.path);
    writeFileSync(tmp, gzipSync(data, { level: 6 }));
    return sha256(data);
  }
  const hash = createHash('sha256');
  const source = createReadStream(file.path);
  source.on('data', (chunk) => hash.update(chunk));
  await pipeline(source, createGzip({ level: 6 }), createWriteStream(tmp));
  return hash.digest('hex');
}

/** `path`, or `path` with a numeric suffix when that name is taken. */
function freeNameSync(path: string): string {
  if (!existsSync(path)) return path;
  for (let i = 1; i < 1000; i++) if (!existsSync(`${path}.${i}`)) return `${path}.${i}`;
  throw new Error(`no free name near ${path}`);
}

/** rename, or copy + fsync + unlink across filesystems. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  await copyFile(from, to);
  await fsyncFile(to);
  const st = await lstat(from);
  await utimes(to, st.atime, st.mtime);
  await unlink(from);
}

/** Inode, size and modification time of a file: what changes when anything writes to it. */
function identity(path: string): string {
  const st = statSync(path);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * Writes a cleanup step's manifest (what it did, for the rollback) and its result (so a retried
 * step returns it instead of acting twice), and returns the result.
 */
async function finishCleanup(
  manifest: string,
  entries: unknown[],
  before: number,
  skipped: number,
  after: { free: number; short: number },
  trash?: string,
): Promise<CleanupResult> {
  await writeFile(manifest, JSON.stringify(entries));
  const result: CleanupResult = {
    count: entries.length,
    freed: Math.max(0, after.free - before),
    skipped,
    manifest,
    ...(trash ? { trash } : {}),
    free: after.free,
    short: after.short,
  };
  await writeFile(`${manifest}.result`, JSON.stringify(result));
  return result;
}
