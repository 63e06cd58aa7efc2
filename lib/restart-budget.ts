import type Database from 'better-sqlite3';
import type { RestartSettings } from './config/lifecycle.js';

/** How often a supervised process may be restarted, and how long to wait between restarts. */
export interface RestartLimits {
  /** Restarts allowed within `intervalMs` (systemd's StartLimitBurst). @default 5 */
  readonly burst: number;
  /** The window the restarts are counted in (systemd's StartLimitIntervalSec). @default 600000 */
  readonly intervalMs: number;
  /** Pause before the second restart within the window; doubled for each further one. @default 1000 */
  readonly backoffMs: number;
  /** The longest pause between two restarts. @default 30000 */
  readonly maxBackoffMs: number;
}

/** guardian.yaml's `restart:` (of `service` or `modelServer`) as the budget reads it. */
export function restartLimitsOf({ burst, interval, backoff, maxBackoff }: RestartSettings): RestartLimits {
  return { burst, intervalMs: interval, backoffMs: backoff, maxBackoffMs: maxBackoff };
}

/** A supervised process whose restarts spend a budget: the guarded service or the model server. */
export interface RestartUnit {
  /** Its name in guardian.yaml: the incident's resource and the budget's key. */
  readonly name: string;
  /** The budget in supervision.db. */
  readonly restarts: RestartBudget;
  /** Its `restart:` settings. */
  readonly restartLimits: RestartLimits;
}

/** A supervised unit whose restarts are held after a crash loop, until an operator resumes it. */
export interface RestartHold {
  readonly name: string;
  readonly since: number;
  readonly reason: string;
}

/** What the budget allows for the next restart of one unit. */
export type RestartPlan =
  | { readonly allowed: true; readonly delayMs: number; readonly restartsInWindow: number; readonly remaining: number }
  | { readonly allowed: false; readonly restartsInWindow: number; readonly reason: string };

/** Where a unit's budget stands, for `guardian status`. */
export interface RestartStatus {
  readonly name: string;
  readonly restartsInWindow: number;
  readonly remaining: number;
  readonly nextDelayMs: number;
  readonly lastRestartAt: number | null;
  readonly held: RestartHold | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS restarts (
  name TEXT NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL, cause TEXT NOT NULL, PRIMARY KEY (name, key));
CREATE INDEX IF NOT EXISTS restarts_by_time ON restarts (name, at);
CREATE TABLE IF NOT EXISTS restart_holds (name TEXT PRIMARY KEY, since INTEGER NOT NULL, reason TEXT NOT NULL);
`;

/** Restart rows kept per unit; older ones are pruned so the table stays small. */
const ROWS_KEPT = 100;

/**
 * The pause before a restart when `restartsInWindow` restarts already happened in the window:
 * the first restart at once, then `backoffMs`, doubling up to `maxBackoffMs`.
 */
export function backoffDelay(restartsInWindow: number, limits: RestartLimits): number {
  if (restartsInWindow <= 0) return 0;
  return Math.min(limits.maxBackoffMs, limits.backoffMs * 2 ** Math.min(30, restartsInWindow - 1));
}

/**
 * The restart budget of supervised processes (the service and the model server alike), kept in
 * Guardian's supervision database so it survives a restart of Guardian: every restart Guardian
 * made after a process died, and the units whose restarts are held after a crash loop. A held
 * unit is neither restarted nor started with Guardian until `guardian resume` lifts the hold.
 */
export class RestartBudget {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /** Whether `name` may be restarted now, and after what pause. */
  plan(name: string, limits: RestartLimits, now = Date.now()): RestartPlan {
    const restartsInWindow = this.countSince(name, now - limits.intervalMs);
    if (restartsInWindow >= limits.burst) {
      return {
        allowed: false,
        restartsInWindow,
        reason: `${restartsInWindow} restarts within ${Math.round(limits.intervalMs / 1000)} s (limit ${limits.burst})`,
      };
    }
    const held = this.held(name);
    if (held)
      return { allowed: false, restartsInWindow, reason: `restarts are held since a crash loop: ${held.reason}` };
    return {
      allowed: true,
      delayMs: backoffDelay(restartsInWindow, limits),
      restartsInWindow,
      remaining: limits.burst - restartsInWindow - 1,
    };
  }

  /** Counts one restart, once per `key` (a re-run of the same step counts nothing more); true when new. */
  record(name: string, key: string, cause: string, at = Date.now()): boolean {
    return this.db.transaction(() => {
      const added =
        this.db
          .prepare('INSERT OR IGNORE INTO restarts (name, key, at, cause) VALUES (?, ?, ?, ?)')
          .run(name, key, at, cause).changes > 0;
      this.db
        .prepare(
          `DELETE FROM restarts WHERE name = ? AND key NOT IN
             (SELECT key FROM restarts WHERE name = ? ORDER BY at DESC LIMIT ?)`,
        )
        .run(name, name, ROWS_KEPT);
      return added;
    })();
  }

  /** True when the restart `key` of `name` was counted already. */
  counted(name: string, key: string): boolean {
    return this.db.prepare('SELECT 1 FROM restarts WHERE name = ? AND key = ?').get(name, key) !== undefined;
  }

  /** Holds the restarts of `name` (idempotent: the first hold's time and reason stay). */
  hold(name: string, reason: string, at = Date.now()): RestartHold {
    this.db.prepare('INSERT OR IGNORE INTO restart_holds (name, since, reason) VALUES (?, ?, ?)').run(name, at, reason);
    return this.held(name) ?? { name, since: at, reason };
  }

  /** The hold on `name`, if its restarts are held. */
  held(name: string): RestartHold | undefined {
    return this.db.prepare('SELECT name, since, reason FROM restart_holds WHERE name = ?').get(name) as
      RestartHold | undefined;
  }

  /** Lifts the hold and forgets the restarts counted so far (a fresh budget); true when there was a hold. */
  resume(name: string, now = Date.now()): boolean {
    return this.db.transaction(() => {
      const lifted = this.db.prepare('DELETE FROM restart_holds WHERE name = ?').run(name).changes > 0;
      this.db.prepare('DELETE FROM restarts WHERE name = ? AND at <= ?').run(name, now);
      return lifted;
    })();
  }

  /** Restarts counted, budget left and the hold of `name`. */
  status(name: string, limits: RestartLimits, now = Date.now()): RestartStatus {
    const restartsInWindow = this.countSince(name, now - limits.intervalMs);
    const last = this.db.prepare('SELECT max(at) AS at FROM restarts WHERE name = ?').get(name) as {
      at: number | null;
    };
    return {
      name,
      restartsInWindow,
      remaining: Math.max(0, limits.burst - restartsInWindow),
      nextDelayMs: backoffDelay(restartsInWindow, limits),
      lastRestartAt: last.at,
      held: this.held(name) ?? null,
    };
  }

  /** The causes of the newest `limit` restarts of `name`, newest first. */
  recentCauses(name: string, limit = 5): string[] {
    const rows = this.db
      .prepare('SELECT cause FROM restarts WHERE name = ? ORDER BY at DESC LIMIT ?')
      .all(name, limit) as { cause: string }[];
    return rows.map((r) => r.cause);
  }

  /** Every unit with restarts or a hold on record. */
  names(): string[] {
    const rows = this.db
      .prepare('SELECT name FROM restarts UNION SELECT name FROM restart_holds ORDER BY name')
      .all() as { name: string }[];
    return rows.map((r) => r.name);
  }

  private countSince(name: string, since: number): number {
    const row = this.db.prepare('SELECT count(*) AS n FROM restarts WHERE name = ? AND at > ?').get(name, since) as {
      n: number;
    };
    return row.n;
  }
}
