import { listBackups, removePartialBackups, takeBackup } from './backups.js';
import type { Logger } from './logger.js';

/** A database the keeper backs up. */
export interface BackedUpDatabase {
  name: string;
  path: string;
  backups: { every: number; keep: number };
}

/**
 * Keeps last-known-good backups of each database on its schedule: at start when the newest
 * is older than the interval, then every interval. A backup counts only after it passes
 * quick_check; a source that cannot be backed up is reported, never saved as "good".
 */
export class BackupKeeper {
  private readonly timers: NodeJS.Timeout[] = [];
  /** The backup of each database in flight: a second request waits for it instead of starting another. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly databases: readonly BackedUpDatabase[],
    private readonly stateDir: string,
    private readonly logger: Logger,
    private readonly onFailure: (database: string, error: Error) => void = () => undefined,
  ) {}

  /** Removes what an interrupted earlier run left half-written, then schedules every database. */
  start(): void {
    for (const db of this.databases) {
      const removed = removePartialBackups(this.stateDir, db.name);
      if (removed.length > 0) this.logger.info({ database: db.name, removed }, 'removed an interrupted backup');
      const newest = listBackups(this.stateDir, db.name)[0];
      const due = newest ? Math.max(0, newest.takenAt + db.backups.every - Date.now()) : 0;
      const first = setTimeout(() => {
        void this.backup(db);
        const every = setInterval(() => void this.backup(db), db.backups.every);
        every.unref();
        this.timers.push(every);
      }, due);
      first.unref();
      this.timers.push(first);
    }
  }

  /** Stops scheduling backups (one in flight completes). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
  }

  /**
   * Backs up one database now. When a backup of it is already running, waits for that one
   * instead of starting a second, so a caller always returns after a finished attempt.
   */
  backup(db: BackedUpDatabase): Promise<void> {
    const running = this.inFlight.get(db.name);
    if (running) return running;
    const attempt = this.attempt(db).finally(() => this.inFlight.delete(db.name));
    this.inFlight.set(db.name, attempt);
    return attempt;
  }

  private async attempt(db: BackedUpDatabase): Promise<void> {
    try {
      const info = await takeBackup(db, this.stateDir, db.backups.keep);
      this.logger.debug(
        { database: db.name, path: info.path, size: info.size, slices: info.copy.slices, restarts: info.copy.restarts },
        'backup taken and verified',
      );
    } catch (err) {
      this.logger.warn({ database: db.name, err }, 'backup failed; the previous good backup is kept');
      this.onFailure(db.name, err as Error);
    }
  }

  /** Backs up every database now (used by `guardian backup` and drills). */
  async backupAll(): Promise<void> {
    await Promise.all(this.databases.map((db) => this.backup(db)));
  }
}
