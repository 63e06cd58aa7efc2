import { lstat, mkdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { freeBytes, mountOf } from '../lib/disk.js';
import { exists, freeName, moveFile } from '../lib/files.js';
import { beat, isActivityCancellation, throwIfCancelled, withHeartbeat } from '../lib/heartbeat.js';
import { runJournaled } from '../lib/step-state.js';
import { type CleanupResult, type DiskScope, moveBackToPlace, readCleanupJournal } from './disk-scope.js';
import { FailureType } from '../lib/failures.js';

/** An artifact to move to secondary storage (journaled before it moves). */
interface MovedEntry {
  path: string;
  to: string;
  size: number;
  ino: number;
}

interface ArtifactsJournal {
  before: number;
  skipped: number;
  entries: MovedEntry[];
}

/** Moving artifacts to secondary storage, and back. */
export function createDiskArtifactActivities(scope: DiskScope) {
  return {
    /**
     * Moves artifacts, oldest first, to `disk.secondary` until twice minFree would be free. The
     * list and each destination are journaled (fsynced) before the first move; a re-run after a
     * crash finishes the same list. Cancelled, it moves back what it moved.
     */
    async moveArtifacts({ resource }: { resource: string }): Promise<CleanupResult> {
      const state = scope.state('artifacts');
      let moved = 0;
      return withHeartbeat(
        () =>
          runJournaled<ArtifactsJournal, CleanupResult>(state, {
            async plan() {
              const secondary = scope.disk().secondary;
              const before = freeBytes(resource).free;
              if (!secondary || mountOf(secondary) === resource) return { before, skipped: 0, entries: [] };
              const { files, skipped: openOrOutside } = await scope.candidates(resource, 'artifacts');
              let skipped = openOrOutside;
              let free = before;
              let room = freeBytes(secondary).free;
              const target = 2 * scope.disk().minFree;
              const reserved = new Set<string>();
              const entries: MovedEntry[] = [];
              for (const file of files.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
                if (free >= target) break;
                if (room < file.size * 1.1) {
                  skipped++;
                  continue;
                }
                // An artifact from an earlier incident may hold the name: record where this one really goes.
                let to = await freeName(
                  join(secondary, 'artifacts', basename(file.dir), relative(file.dir, file.path)),
                );
                for (let i = 1; reserved.has(to); i++) to = await freeName(`${to}.${i}`);
                reserved.add(to);
                entries.push({ path: file.path, to, size: file.size, ino: file.ino });
                free += file.usage;
                room -= file.size;
              }
              return { before, skipped, entries };
            },
            async act(journal) {
              let skipped = journal.skipped;
              let count = 0;
              try {
                for (const entry of journal.entries) {
                  throwIfCancelled();
                  const st = await lstat(entry.path).catch(() => undefined);
                  if (!st) {
                    if (await exists(entry.to)) count++; // moved by an earlier run
                    continue;
                  }
                  if (!st.isFile() || st.ino !== entry.ino) {
                    skipped++;
                    continue;
                  }
                  await mkdir(dirname(entry.to), { recursive: true });
                  await moveFile(entry.path, entry.to);
                  moved = ++count;
                  beat(`${moved} artifacts moved`);
                }
              } catch (err) {
                if (isActivityCancellation(err)) await moveBack(journal.entries);
                throw err;
              }
              return scope.result(state, count, journal.before, skipped, resource);
            },
          }),
        () => `${moved} artifacts moved`,
      );
    },

    /** Rollback of {@link moveArtifacts}: moves them back, from the journal written before they moved. */
    async returnArtifacts({ manifest }: { manifest: string }): Promise<{ returned: number }> {
      const { entries } = await readCleanupJournal<ArtifactsJournal>(manifest);
      const returned = await moveBack(entries);
      const missing: string[] = [];
      for (const entry of entries) if (!(await exists(entry.path))) missing.push(entry.to);
      if (missing.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `${missing.length} moved artifact(s) are no longer on secondary storage and cannot be returned ` +
            `(first: ${missing[0]}); ${returned} returned. The list is in ${manifest}.`,
          FailureType.CannotReturnArtifacts,
        );
      }
      return { returned };
    },
  };
}

/** Moves every artifact of `entries` that is on secondary storage back to its place; returns how many. */
function moveBack(entries: MovedEntry[]): Promise<number> {
  return moveBackToPlace(entries.map((e) => ({ from: e.to, to: e.path })));
}
