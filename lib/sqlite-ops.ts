/** A `PRAGMA quick_check` or `integrity_check`, on a read-only connection. */
export interface CheckRequest {
  op: 'check' | 'check-writable';
  id: number;
  path: string;
  kind: 'quick' | 'integrity';
  limit: number;
}

/** `PRAGMA wal_checkpoint(TRUNCATE)`. */
export interface CheckpointRequest {
  op: 'checkpoint';
  id: number;
  path: string;
}

/** `count(*)` of every table. */
export interface RowCountsRequest {
  op: 'row-counts';
  id: number;
  path: string;
}

/** An online backup in slices of pages. */
export interface BackupRequest {
  op: 'backup';
  id: number;
  source: string;
  target: string;
  /** Longest a slice may hold the source's read lock (ms); the page count per slice adapts to it. */
  sliceMs: number;
  /** Pause after each slice, so the service's writers get the lock (ms). */
  pauseMs: number;
}

/** Ends the thread after what it is running now. */
export interface ExitRequest {
  op: 'exit';
  id: number;
}

/** What the SQLite thread is asked to do. */
export type SqliteRequest = CheckRequest | CheckpointRequest | RowCountsRequest | BackupRequest | ExitRequest;

/** What the SQLite thread answers: progress while it works, then a result or an error. */
export type SqliteReply =
  | { id: number; type: 'progress'; done: number; total: number }
  | { id: number; type: 'done'; result: unknown; cpuMs: number; wallMs: number }
  | { id: number; type: 'error'; message: string; code: string };

/** How a sliced backup went. */
export interface BackupOutcome {
  pages: number;
  slices: number;
  /** Times a write to the source made SQLite start over. */
  restarts: number;
  /** Longest single slice (ms): how long the service's writers could have waited. */
  longestSliceMs: number;
}
