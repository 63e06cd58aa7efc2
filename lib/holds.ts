import type Database from 'better-sqlite3';

/** Why automatic remediation of a mode+resource is off: flap protection paused it, or a person held it. */
export type QuietKind = 'paused' | 'held';

/** A hold on a mode+resource: placed by a rollback or by `guardian hold`. */
export interface Hold {
  mode: string;
  resource: string;
  since: number;
  /** When it lifts by itself; null holds until `guardian resume`. */
  until: number | null;
  reason: string;
  source: 'rollback' | 'operator';
  workflowId: string | null;
}

/** Findings suppressed for a quiet mode+resource since it went quiet. */
export interface Suppression {
  count: number;
  firstAt: number;
  lastAt: number;
  remindedAt: number | null;
}

/** One change of a mode+resource's state, as the ledger keeps it. */
export interface QuietChange {
  at: number;
  mode: string;
  resource: string;
  change: 'paused' | 'held' | 'resumed' | 'hold-expired';
  detail: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS holds (
  mode TEXT NOT NULL, resource TEXT NOT NULL, since INTEGER NOT NULL, until INTEGER, reason TEXT NOT NULL,
  source TEXT NOT NULL, workflow_id TEXT, PRIMARY KEY (mode, resource));
CREATE TABLE IF NOT EXISTS suppressions (
  mode TEXT NOT NULL, resource TEXT NOT NULL, count INTEGER NOT NULL, first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL, reminded_at INTEGER, PRIMARY KEY (mode, resource));
CREATE TABLE IF NOT EXISTS quiet_changes (
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, mode TEXT NOT NULL, resource TEXT NOT NULL, change TEXT NOT NULL,
  detail TEXT NOT NULL);
`;

/**
 * Holds, the suppression counters of quiet resources, and the log of their changes of state (one
 * row per change, never one per detector tick). Lives in the ledger file, so it survives restarts.
 */
export class HoldBook {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /** Places (or replaces) a hold; logs a change only when there was none. */
  place(hold: Hold): void {
    this.db.transaction(() => {
      const had = this.active(hold.mode, hold.resource, hold.since) !== undefined;
      this.db
        .prepare(
          `INSERT OR REPLACE INTO holds (mode, resource, since, until, reason, source, workflow_id)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(hold.mode, hold.resource, hold.since, hold.until, hold.reason, hold.source, hold.workflowId);
      if (!had) this.logChange(hold.since, hold.mode, hold.resource, 'held', hold.reason);
    })();
  }

  /** The hold in force on a mode+resource at `now`; an expired one is removed (and logged). */
  active(mode: string, resource: string, now = Date.now()): Hold | undefined {
    const row = this.db.prepare('SELECT * FROM holds WHERE mode = ? AND resource = ?').get(mode, resource) as
      HoldRow | undefined;
    if (!row) return undefined;
    if (row.until !== null && row.until <= now) {
      this.expire(row);
      return undefined;
    }
    return toHold(row);
  }

  /** Every hold in force, oldest first (expired ones are removed). */
  list(now = Date.now()): Hold[] {
    const rows = this.db.prepare('SELECT * FROM holds ORDER BY since').all() as HoldRow[];
    const live: Hold[] = [];
    for (const row of rows) {
      if (row.until !== null && row.until <= now) this.expire(row);
      else live.push(toHold(row));
    }
    return live;
  }

  /** Lifts a hold; returns whether there was one. */
  lift(mode: string, resource: string): boolean {
    return this.db.prepare('DELETE FROM holds WHERE mode = ? AND resource = ?').run(mode, resource).changes > 0;
  }

  /**
   * Counts `count` suppressed findings. Returns true when a reminder is due: `reminderMs` after the
   * resource went quiet (its escalation alerted then) or after the last reminder.
   */
  suppress(
    mode: string,
    resource: string,
    quietSince: number,
    reminderMs: number,
    now = Date.now(),
    count = 1,
  ): boolean {
    return this.db.transaction(() => {
      const row = this.suppression(mode, resource);
      if (!row) {
        this.db
          .prepare(
            'INSERT INTO suppressions (mode, resource, count, first_at, last_at, reminded_at) VALUES (?, ?, ?, ?, ?, NULL)',
          )
          .run(mode, resource, count, now, now);
      } else {
        this.db
          .prepare('UPDATE suppressions SET count = count + ?, last_at = ? WHERE mode = ? AND resource = ?')
          .run(count, now, mode, resource);
      }
      const due = now - (row?.remindedAt ?? quietSince) >= reminderMs;
      if (due) {
        this.db
          .prepare('UPDATE suppressions SET reminded_at = ? WHERE mode = ? AND resource = ?')
          .run(now, mode, resource);
      }
      return due;
    })();
  }

  /** Findings suppressed for a mode+resource since it went quiet. */
  suppression(mode: string, resource: string): Suppression | undefined {
    const row = this.db
      .prepare('SELECT count, first_at, last_at, reminded_at FROM suppressions WHERE mode = ? AND resource = ?')
      .get(mode, resource) as
      { count: number; first_at: number; last_at: number; reminded_at: number | null } | undefined;
    return row && { count: row.count, firstAt: row.first_at, lastAt: row.last_at, remindedAt: row.reminded_at };
  }

  /** Forgets the suppression counter (the resource is no longer quiet). */
  clearSuppression(mode: string, resource: string): void {
    this.db.prepare('DELETE FROM suppressions WHERE mode = ? AND resource = ?').run(mode, resource);
  }

  /** Appends one change of state. */
  logChange(at: number, mode: string, resource: string, change: QuietChange['change'], detail: string): void {
    this.db
      .prepare('INSERT INTO quiet_changes (at, mode, resource, change, detail) VALUES (?, ?, ?, ?, ?)')
      .run(at, mode, resource, change, detail);
  }

  /** The changes of state of one mode+resource (or all), oldest first. */
  changes(filter: { mode?: string; resource?: string } = {}): QuietChange[] {
    return this.db
      .prepare(
        `SELECT at, mode, resource, change, detail FROM quiet_changes
         WHERE (? IS NULL OR mode = ?) AND (? IS NULL OR resource = ?) ORDER BY id`,
      )
      .all(filter.mode ?? null, filter.mode ?? null, filter.resource ?? null, filter.resource ?? null) as QuietChange[];
  }

  private expire(row: HoldRow): void {
    this.db.transaction(() => {
      const gone =
        this.db
          .prepare('DELETE FROM holds WHERE mode = ? AND resource = ? AND since = ?')
          .run(row.mode, row.resource, row.since).changes > 0;
      if (gone) {
        this.logChange(row.until ?? Date.now(), row.mode, row.resource, 'hold-expired', row.reason);
        this.clearSuppression(row.mode, row.resource);
      }
    })();
  }
}

interface HoldRow {
  mode: string;
  resource: string;
  since: number;
  until: number | null;
  reason: string;
  source: Hold['source'];
  workflow_id: string | null;
}

function toHold(row: HoldRow): Hold {
  return {
    mode: row.mode,
    resource: row.resource,
    since: row.since,
    until: row.until,
    reason: row.reason,
    source: row.source,
    workflowId: row.workflow_id,
  };
}
