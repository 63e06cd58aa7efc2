import Database from 'better-sqlite3';
import type { BackupOutcome, BackupRequest } from './sqlite-ops.js';

/** After this many restarts (a busy writer), the rest is copied in one slice so the backup ends. */
const MAX_RESTARTS = 3;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * SQLite's online backup, stepped in slices whose page count adapts so that each one holds the
 * source's read lock for about `sliceMs`, with a pause after each. Between slices no lock is
 * held, so a rollback-journal database's writers wait at most one slice. A source written to
 * during the copy makes SQLite start over; after a few restarts the remainder is taken in one
 * slice (in WAL mode that blocks no writer). Runs on the SQLite thread: the pause blocks only it.
 */
export async function backupInSlices(
  request: BackupRequest,
  progress: (done: number, total: number) => void,
): Promise<BackupOutcome> {
  // Read-only: closing a read-write handle could fold the WAL into a file not yet copied aside.
  const db = new Database(request.source, { readonly: true, fileMustExist: true });
  const outcome: BackupOutcome = { pages: 0, slices: 0, restarts: 0, longestSliceMs: 0 };
  try {
    db.pragma('busy_timeout = 2000');
    let pages = 64;
    let lastRemaining = Number.POSITIVE_INFINITY;
    let sliceStart = performance.now();
    const result = await db.backup(request.target, {
      progress({ totalPages, remainingPages }) {
        const took = performance.now() - sliceStart;
        outcome.slices++;
        outcome.longestSliceMs = Math.max(outcome.longestSliceMs, took);
        if (remainingPages > lastRemaining) outcome.restarts++;
        lastRemaining = remainingPages;
        progress(totalPages - remainingPages, totalPages);
        if (outcome.restarts >= MAX_RESTARTS) return 0x7fffffff;
        // Aim each slice at sliceMs: scale the page count by how far off the last one was.
        const scale = Math.min(4, Math.max(0.25, request.sliceMs / Math.max(0.1, took)));
        pages = Math.max(16, Math.round(pages * scale));
        if (request.pauseMs > 0) Atomics.wait(sleeper, 0, 0, request.pauseMs);
        sliceStart = performance.now();
        return pages;
      },
    });
    outcome.pages = result.totalPages;
    return outcome;
  } finally {
    db.close();
  }
}
