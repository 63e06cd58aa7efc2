import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { freeBytes, snapshotsBeyondKeep } from '../lib/disk.js';
import { exists, moveFile } from '../lib/files.js';
import { beat, isActivityCancellation, throwIfCancelled, withHeartbeat } from '../lib/heartbeat.js';
import { runJournaled } from '../lib/step-state.js';
import {
  type Candidate,
  type CleanupResult,
  type DiskScope,
  moveBackToPlace,
  readCleanupJournal,
} from './disk-scope.js';
import { FailureType } from '../lib/failures.js';

/** A file a removal step will remove (journaled before it does). */
interface RemovedEntry {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  /** Where it goes, when it goes to the trash. */
  trashed?: string;
}

interface RemovalJournal {
  before: number;
  skipped: number;
  trash?: string;
  entries: RemovedEntry[];
}

/** Removing old snapshots and temporary files (to a trash on secondary storage when there is one), and their rollback. */
export function createDiskRemovalActivities(scope: DiskScope) {
  /**
   * Removes the files chosen by `pick` from dirs of one kind. Every file it will remove, and where
   * it goes, is journaled (fsynced) before the first one is touched; a re-run after a crash acts on
   * the same list, skipping what is done. Cancelled, it puts back what it moved to the trash.
   */
  const removeFiles = async (
    resource: string,
    kind: 'snapshots' | 'temp',
    pick: (files: Candidate[]) => Candidate[],
  ): Promise<CleanupResult> => {
    const state = scope.state(kind);
    let done = 0;
    return withHeartbeat(
      () =>
        runJournaled<RemovalJournal, CleanupResult>(state, {
          async plan() {
            const before = freeBytes(resource).free;
            const { files, skipped } = await scope.candidates(resource, kind);
            const chosen = pick(files);
            const trash = await scope.trashFor(
              resource,
              chosen.reduce((n, f) => n + f.size, 0),
            );
            const entries = chosen.map(({ path, size, mtimeMs, ino }) => ({
              path,
              size,
              mtimeMs,
              ino,
              ...(trash ? { trashed: join(trash, relative(resource, path)) } : {}),
            }));
            return { before, skipped, ...(trash ? { trash } : {}), entries };
          },
          async act(journal) {
            let count = 0;
            let skipped = journal.skipped;
            try {
              for (const entry of journal.entries) {
                throwIfCancelled();
                const st = await lstat(entry.path).catch(() => undefined);
                if (!st) {
                  if (entry.trashed === undefined || (await exists(entry.trashed))) count++; // done by an earlier run
                  continue;
                }
                if (!st.isFile() || st.ino !== entry.ino) {
                  skipped++; // replaced since the scan: not the file that was chosen
                  continue;
                }
                if (entry.trashed) {
                  await mkdir(dirname(entry.trashed), { recursive: true });
                  await moveFile(entry.path, entry.trashed);
                } else await unlink(entry.path);
                done = ++count;
                beat(`${done} files removed`);
              }
            } catch (err) {
              if (isActivityCancellation(err)) await putBack(journal.entries);
              throw err;
            }
            return scope.result(state, count, journal.before, skipped, resource, journal.trash);
          },
        }),
      () => `${done} files removed`,
    );
  };

  return {
    /**
     * Removes the oldest snapshots beyond the newest `disk.snapshots.keep` in each snapshot
     * directory, counting top-level entries (a directory-style snapshot is one snapshot).
     */
    async removeOldSnapshots({ resource }: { resource: string }): Promise<CleanupResult> {
      const keep = scope.disk().snapshots.keep;
      return removeFiles(resource, 'snapshots', (files) => snapshotsBeyondKeep(files, keep));
    },

    /** Removes temporary files older than `disk.temp.olderThan` (a file being written is open, so never touched). */
    async clearTempFiles({ resource }: { resource: string }): Promise<CleanupResult> {
      const cutoff = Date.now() - scope.disk().temp.olderThan;
      return removeFiles(resource, 'temp', (files) => files.filter((f) => f.mtimeMs < cutoff));
    },

    /**
     * Rollback of a removal: moves trashed files back, from the journal written before they were
     * removed. Files deleted without a trash cannot come back; this says so (and fails, so the
     * rollback reports it) instead of pretending. A missing journal is an error, never "nothing".
     */
    async restoreRemovedFiles({ manifest }: { manifest: string }): Promise<{ restored: number }> {
      const { entries } = await readCleanupJournal<RemovalJournal>(manifest);
      const restored = await putBack(entries);
      const gone: RemovedEntry[] = [];
      for (const entry of entries) if (!(await exists(entry.path))) gone.push(entry);
      if (gone.length > 0) {
        const deleted = gone.filter((e) => !e.trashed).length;
        throw ApplicationFailure.nonRetryable(
          `${gone.length} file(s) cannot be restored (${deleted} deleted with no trash on secondary storage, ` +
            `${gone.length - deleted} missing from the trash) ` +
            `(${gone.reduce((n, e) => n + e.size, 0)} bytes; the list is in ${manifest}); ${restored} restored from the trash`,
          FailureType.CannotUndoDeletion,
        );
      }
      return { restored };
    },
  };
}

/** Moves every trashed file of `entries` that is in the trash back to its place; returns how many. */
function putBack(entries: RemovedEntry[]): Promise<number> {
  return moveBackToPlace(entries.flatMap((e) => (e.trashed ? [{ from: e.trashed, to: e.path }] : [])));
}
