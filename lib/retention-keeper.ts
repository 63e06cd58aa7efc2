import type Database from 'better-sqlite3';
import type { RetentionSettings } from './config/retention.js';
import type { Logger } from './logger.js';
import { type Pruned, pruneRunDirectories, rotateAlertsLog } from './retention.js';

/** Margin past a rollback window during which a run's records are still kept. */
const GRACE_MS = 60_000;

/** What one retention pass removed. */
export interface RetentionReport {
  pruned: Pruned[];
  freedBytes: number;
  ledgerRows: number;
}

/** Options of {@link RetentionKeeper}. */
export interface RetentionKeeperOptions {
  stateDir: string;
  alertsFile: string;
  settings: RetentionSettings;
  rollbackWindowMs: number;
  /** Heals inside this window count for flap protection, so they are kept. */
  flapWindowMs: number;
  /** The ledger's database (incidents, alerts, heals). */
  ledger: Database.Database;
  logger: Logger;
}

/**
 * Run IDs whose records must stay: incidents still healing, and those closed less than a
 * rollback window (plus a minute) ago, since a rollback restores from their records.
 */
export function protectedRuns(ledger: Database.Database, rollbackWindowMs: number, now = Date.now()): Set<string> {
  const rows = ledger
    .prepare("SELECT run_id FROM incidents WHERE outcome = 'healing' OR updated_at > ?")
    .all(now - rollbackWindowMs - GRACE_MS) as { run_id: string }[];
  return new Set(rows.map((r) => r.run_id));
}

/**
 * Deletes ledger rows past the newest `keep` or older than `maxAge`: incidents (never one still
 * healing), alerts whose delivery is settled (never one still pending), the record of hold and
 * pause changes, and heals older than the flap window. Holds and pauses themselves are never
 * pruned. Returns the rows deleted; SQLite reuses the freed pages, so the file stops growing.
 */
export function pruneLedger(
  ledger: Database.Database,
  settings: RetentionSettings['ledger'],
  flapWindowMs: number,
  now = Date.now(),
): number {
  const oldest = now - settings.maxAge;
  const has = (table: string) =>
    ledger.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  const run = (sql: string, ...args: number[]) => ledger.prepare(sql).run(...args).changes;
  return ledger.transaction(() => {
    let rows = 0;
    if (has('incidents'))
      rows += run(
        `DELETE FROM incidents WHERE outcome != 'healing' AND (updated_at < ? OR rowid NOT IN
           (SELECT rowid FROM incidents ORDER BY detected_at DESC LIMIT ?))`,
        oldest,
        settings.keep,
      );
    if (has('alert_outbox'))
      rows += run(
        `DELETE FROM alert_outbox WHERE state != 'pending' AND (at < ? OR rowid NOT IN
           (SELECT rowid FROM alert_outbox ORDER BY at DESC LIMIT ?))`,
        oldest,
        settings.keep,
      );
    if (has('quiet_changes'))
      rows += run(
        'DELETE FROM quiet_changes WHERE at < ? OR id NOT IN (SELECT id FROM quiet_changes ORDER BY id DESC LIMIT ?)',
        oldest,
        settings.keep,
      );
    if (has('heals')) rows += run('DELETE FROM heals WHERE at < ?', now - Math.max(flapWindowMs, 86_400_000));
    return rows;
  })();
}

/**
 * Applies retention to everything Guardian keeps, at start and then on its schedule; a
 * disk-full finding on the state directory's filesystem runs it at once in urgent mode, so
 * Guardian's own files are the first to go.
 */
export class RetentionKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionReport> | undefined;

  constructor(private readonly options: RetentionKeeperOptions) {}

  /** Runs a pass now, then every `retention.every`. */
  start(): void {
    void this.run().catch(() => undefined);
    this.timer = setInterval(() => void this.run().catch(() => undefined), this.options.settings.every);
    this.timer.unref();
  }

  /** Stops the schedule (a pass in flight completes). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass; a call while one runs waits for it instead of starting another. */
  run(urgent = false): Promise<RetentionReport> {
    this.running ??= this.pass(urgent).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(urgent: boolean): Promise<RetentionReport> {
    const o = this.options;
    const now = Date.now();
    const scope = {
      stateDir: o.stateDir,
      alertsFile: o.alertsFile,
      settings: o.settings,
      protectedRuns: protectedRuns(o.ledger, o.rollbackWindowMs, now),
      minAgeMs: o.rollbackWindowMs + GRACE_MS,
      urgent,
      now,
    };
    try {
      const pruned = [...(await pruneRunDirectories(scope)), ...(await rotateAlertsLog(scope))];
      const ledgerRows = pruneLedger(o.ledger, o.settings.ledger, o.flapWindowMs, now);
      const report = { pruned, freedBytes: pruned.reduce((n, p) => n + p.bytes, 0), ledgerRows };
      if (pruned.length > 0 || ledgerRows > 0)
        o.logger.info(
          { removed: pruned.length, freedBytes: report.freedBytes, ledgerRows, urgent },
          "retention pruned Guardian's state",
        );
      return report;
    } catch (err) {
      o.logger.warn({ err, stateDir: o.stateDir }, 'retention pass failed; it runs again on schedule');
      throw err;
    }
  }
}
