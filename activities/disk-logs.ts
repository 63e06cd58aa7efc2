import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { readFile, rename, rm, unlink, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';
import { ApplicationFailure } from '@temporalio/activity';
import { fsyncFile } from '../lib/atomic-file.js';
import { type FoundFile, freeBytes } from '../lib/disk.js';
import { exists, freeNameSync, identity, isNoSpace } from '../lib/files.js';
import { sha256 } from '../lib/hash.js';
import { throwIfCancelled, withHeartbeat } from '../lib/heartbeat.js';
import { fsyncDir, runJournaled } from '../lib/step-state.js';
import { type CleanupResult, type DiskScope, readCleanupJournal } from './disk-scope.js';
import { FailureType } from '../lib/failures.js';

/** A log to compress: `path` becomes `gz` (through `tmp`); `sha256` is the original's, set once compressed. */
interface CompressedEntry {
  path: string;
  gz: string;
  tmp: string;
  /** The log's identity when chosen: a log written to since is left as it is. */
  seen: string;
  mtimeMs: number;
  size: number;
  sha256?: string;
}

interface LogsJournal {
  before: number;
  skipped: number;
  /** Set once every chosen log is compressed to its temporary name and fsynced, before any original goes. */
  compressed?: boolean;
  entries: CompressedEntry[];
}

/** Logs up to this size are compressed in memory; larger ones are streamed. */
const IN_MEMORY_LIMIT = 16 * 1048576;

/** Compressing old logs (lossless) and its rollback. */
export function createDiskLogActivities(scope: DiskScope) {
  return {
    /**
     * Compresses (gzip) the log files older than `disk.logs.olderThan`: `<name>` becomes
     * `<name>.gz` with the same mtime. Lossless, so a rollback restores them byte for byte.
     * The chosen logs are journaled first; each is compressed to a temporary name, all are
     * fsynced, and the journal records their checksums before any original is removed. A file
     * that does not fit is skipped, never half-written; cancelled while compressing, it stops
     * with every original in place.
     */
    async compressOldLogs({ resource }: { resource: string }): Promise<CleanupResult> {
      const state = scope.state('logs');
      let progress = 'choosing logs';
      return withHeartbeat(
        () =>
          runJournaled<LogsJournal, CleanupResult>(state, {
            async plan() {
              const before = freeBytes(resource).free;
              const cutoff = Date.now() - scope.disk().logs.olderThan;
              const { files, skipped } = await scope.candidates(resource, 'logs');
              const reserved = new Set<string>();
              const entries = files
                .filter((f) => f.mtimeMs < cutoff && !f.path.endsWith('.gz'))
                .sort((a, b) => a.mtimeMs - b.mtimeMs)
                .map((f) => {
                  let gz = freeNameSync(`${f.path}.gz`);
                  for (let i = 1; reserved.has(gz); i++) gz = freeNameSync(`${f.path}.gz.${i}`);
                  reserved.add(gz);
                  return {
                    path: f.path,
                    gz,
                    tmp: `${gz}.guardian-tmp`,
                    seen: identity(f.path),
                    mtimeMs: f.mtimeMs,
                    size: f.size,
                  };
                });
              return { before, skipped, entries };
            },
            async act(journal) {
              let skipped = journal.skipped;
              if (!journal.compressed) {
                const written: CompressedEntry[] = [];
                try {
                  for (const [i, entry] of journal.entries.entries()) {
                    throwIfCancelled();
                    progress = `${i} of ${journal.entries.length} logs compressed`;
                    try {
                      if (identity(entry.path) !== entry.seen) continue;
                      written.push({ ...entry, sha256: await gzipToTemp(entry, entry.tmp) });
                    } catch (err) {
                      rmSync(entry.tmp, { force: true });
                      if (!isNoSpace(err) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
                    }
                    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
                  }
                } catch (err) {
                  for (const w of written) rmSync(w.tmp, { force: true });
                  throw err;
                }
                // fsynced together (one at a time is what makes this slow on a real disk).
                for (let i = 0; i < written.length; i += 16)
                  await Promise.all(written.slice(i, i + 16).map((w) => fsyncFile(w.tmp)));
                skipped += journal.entries.length - written.length;
                journal = { ...journal, skipped, compressed: true, entries: written };
                await state.journal(journal); // the checksums, before any original is removed
              }
              progress = 'swapping compressed logs in';
              let count = 0;
              for (const entry of journal.entries) {
                if (swapIn(entry)) count++;
                else skipped++;
              }
              for (const dir of new Set(journal.entries.map((e) => dirname(e.gz))))
                await fsyncDir(dir).catch(() => undefined);
              return scope.result(state, count, journal.before, skipped, resource);
            },
          }),
        () => progress,
      );
    },

    /** Rollback of {@link compressOldLogs}: decompresses each log back, checked against its SHA-256. */
    async decompressLogs({ manifest }: { manifest: string }): Promise<{ restored: number }> {
      const { entries } = await readCleanupJournal<LogsJournal>(manifest);
      let restored = 0;
      const lost: string[] = [];
      for (const entry of entries) {
        if (await exists(entry.path)) continue; // already back, or never removed
        if (!entry.sha256 || !(await exists(entry.gz))) {
          lost.push(entry.path);
          continue;
        }
        const tmp = `${entry.path}.guardian-tmp`;
        await pipeline(createReadStream(entry.gz), createGunzip(), createWriteStream(tmp));
        if (sha256(await readFile(tmp)) !== entry.sha256) {
          await rm(tmp, { force: true });
          throw new Error(`${entry.gz} does not decompress to the original ${entry.path}; it is left as it is`);
        }
        await fsyncFile(tmp);
        await rename(tmp, entry.path);
        await utimes(entry.path, new Date(), new Date(entry.mtimeMs));
        await unlink(entry.gz).catch(() => undefined);
        restored++;
      }
      if (lost.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `${lost.length} compressed log(s) are missing and cannot be restored (first: ${lost[0]}); ` +
            `${restored} restored. The list is in ${manifest}.`,
          FailureType.CannotUndoCompression,
        );
      }
      return { restored };
    },
  };
}

/**
 * Puts one compressed log in place of its original, from wherever an earlier run stopped: the
 * temporary file renamed to `.gz`, then the original removed. False when the log changed since it
 * was read (it stays as it is) or nothing is there to swap in.
 */
function swapIn(entry: CompressedEntry): boolean {
  let current: string | undefined;
  try {
    current = identity(entry.path);
  } catch {
    current = undefined; // the original is gone: an earlier run finished this one
  }
  const gzThere = (() => {
    try {
      identity(entry.gz);
      return true;
    } catch {
      return false;
    }
  })();
  if (current === undefined) return gzThere;
  if (current !== entry.seen) {
    // A log written to since it was read would lose the new lines: leave it as it is.
    rmSync(entry.tmp, { force: true });
    return false;
  }
  if (!gzThere) {
    try {
      renameSync(entry.tmp, entry.gz);
    } catch {
      return false; // the temporary copy is not there: nothing to swap in
    }
    utimesSync(entry.gz, new Date(), new Date(entry.mtimeMs));
  }
  rmSync(entry.path);
  return true;
}

/**
 * Compresses a log to `tmp` (not yet fsynced); returns the original's SHA-256. Small logs are
 * compressed in memory with synchronous calls (far cheaper per file than a chain of promises),
 * large ones streamed.
 */
async function gzipToTemp(file: Pick<FoundFile, 'path' | 'size'>, tmp: string): Promise<string> {
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
