import { Worker } from 'node:worker_threads';
import type { BackupOutcome, SqliteReply, SqliteRequest } from './sqlite-ops.js';

/** An error the SQLite thread threw, with SQLite's code (`SQLITE_CORRUPT`, `SQLITE_BUSY` …) kept. */
export class SqliteThreadError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'SqliteThreadError';
  }
}

/** Options of one call to the SQLite thread. */
export interface OffloadOptions {
  /** Progress of a backup, in pages. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting fails the call at once; the thread exits after its current statement, and the next call starts a new one. */
  signal?: AbortSignal;
}

/** A result of the SQLite thread with what it cost. */
export interface Measured<T> {
  result: T;
  /** CPU time the thread spent on it (ms). */
  cpuMs: number;
  wallMs: number;
}

interface Pending {
  resolve: (value: Measured<unknown>) => void;
  reject: (err: Error) => void;
  onProgress?: (done: number, total: number) => void;
}

type RequestBody = SqliteRequest extends infer R ? (R extends SqliteRequest ? Omit<R, 'id'> : never) : never;

/**
 * A worker thread that runs better-sqlite3 for Guardian, started on first use and kept; it does
 * not keep the process alive while idle. Calls queue in order on the thread.
 */
export class SqliteThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(readonly name: string) {}

  /** Sends a request and resolves with its result and cost. */
  run<T>(body: RequestBody, options: OffloadOptions = {}): Promise<Measured<T>> {
    options.signal?.throwIfAborted();
    const worker = this.ensure();
    const id = this.nextId++;
    return new Promise<Measured<T>>((resolve, reject) => {
      const onAbort = () => this.restart(options.signal?.reason as Error);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (value) => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve(value as Measured<T>);
        },
        reject: (err) => {
          options.signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      worker.ref();
      worker.postMessage({ ...body, id });
    });
  }

  /** Stops the thread once what it is running now ends; calls in flight fail at once. */
  async close(): Promise<void> {
    this.retire(new Error(`SQLite thread ${this.name} was stopped`));
  }

  /**
   * Fails the calls in flight and retires the worker: it exits after the statement it is
   * running, never in the middle of one (stopping a thread inside SQLite crashes the process).
   * The next call starts a new worker.
   */
  private retire(reason: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(reason);
    if (!worker) return;
    worker.postMessage({ op: 'exit', id: 0 });
    worker.unref();
  }

  private restart(reason: Error | undefined): void {
    this.retire(reason ?? new Error(`work on SQLite thread ${this.name} was cancelled`));
  }

  private failAll(err: Error): void {
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = startSqliteWorker(this.name);
    worker.on('message', (reply: SqliteReply) => this.receive(worker, reply));
    // A retired worker's calls were failed when it was retired; its end concerns no one.
    worker.on('error', (err) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(new Error(`SQLite thread ${this.name} failed: ${err.message}`));
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(new Error(`SQLite thread ${this.name} exited`));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private receive(worker: Worker, reply: SqliteReply): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    if (reply.type === 'progress') {
      call.onProgress?.(reply.done, reply.total);
      return;
    }
    this.pending.delete(reply.id);
    if (this.pending.size === 0) worker.unref();
    if (reply.type === 'done') call.resolve({ result: reply.result, cpuMs: reply.cpuMs, wallMs: reply.wallMs });
    else call.reject(new SqliteThreadError(reply.message, reply.code));
  }
}

/**
 * Starts lib/sqlite-thread in a worker. Run from TypeScript sources (tsx), the worker registers
 * tsx first, since a worker does not inherit the loader the main thread registered.
 */
function startSqliteWorker(name: string): Worker {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const entry = new URL(`./sqlite-thread.${ext}`, import.meta.url).href;
  if (ext === 'js') return new Worker(new URL(entry), { name });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, name });
}

/** The two SQLite threads: remediation work never queues behind a background scrub or backup. */
export const sqliteThreads = {
  /** Checks, checkpoints and row counts of a remediation. */
  heal: new SqliteThread('guardian-sqlite-heal'),
  /** The scrub and the scheduled backups. */
  background: new SqliteThread('guardian-sqlite-background'),
} as const;

/** Runs a sliced online backup on the background thread. */
export function backupOffThread(
  source: string,
  target: string,
  options: OffloadOptions & { sliceMs?: number; pauseMs?: number } = {},
): Promise<Measured<BackupOutcome>> {
  return sqliteThreads.background.run<BackupOutcome>(
    { op: 'backup', source, target, sliceMs: options.sliceMs ?? 20, pauseMs: options.pauseMs ?? 2 },
    options,
  );
}
