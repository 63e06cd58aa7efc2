import type Database from 'better-sqlite3';
import { AlertOutbox } from './alert-outbox.js';
import { type Hold, HoldBook, type QuietKind } from './holds.js';
import { type IncidentRecord, toRecord } from './incident-record.js';
import { openStateDatabase } from './state-db.js';

export type { IncidentRecord } from './incident-record.js';

/** What the flap gate decided for a new incident. */
export interface FlapDecision {
  decision: 'heal' | 'flapping' | 'paused' | 'held';
  healsInWindow: number;
}

/** Why a mode+resource gets no automatic remediation now, and since when. */
export interface Quiet {
  kind: QuietKind;
  mode: string;
  resource: string;
  since: number;
  reason: string;
  /** When a hold lifts by itself; null until an operator resumes. */
  until: number | null;
}

/** A paused mode+resource. */
export interface Pause {
  mode: string;
  resource: string;
  since: number;
  reason: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS incidents (
  workflow_id TEXT NOT NULL, run_id TEXT NOT NULL, mode TEXT NOT NULL, host TEXT NOT NULL,
  resource TEXT NOT NULL, evidence TEXT NOT NULL, detected_at INTEGER NOT NULL, injected_at INTEGER,
  healed_at INTEGER, mttr_ms INTEGER, outcome TEXT NOT NULL, decision TEXT NOT NULL,
  steps TEXT NOT NULL DEFAULT '[]', summary TEXT NOT NULL DEFAULT '', alert TEXT, updated_at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, run_id));
CREATE INDEX IF NOT EXISTS incidents_detected ON incidents (detected_at);
CREATE TABLE IF NOT EXISTS heals (
  workflow_id TEXT NOT NULL, run_id TEXT NOT NULL, mode TEXT NOT NULL, resource TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, run_id));
CREATE INDEX IF NOT EXISTS heals_by_resource ON heals (mode, resource, at);
CREATE TABLE IF NOT EXISTS pauses (
  mode TEXT NOT NULL, resource TEXT NOT NULL, since INTEGER NOT NULL, reason TEXT NOT NULL,
  PRIMARY KEY (mode, resource));
`;

/**
 * Guardian's own SQLite file: incidents, heal counts for flap protection, pauses, holds and the
 * alert outbox. It survives a restart of Guardian, which is what makes flap protection and holds
 * hold across restarts.
 */
export class Ledger {
  readonly db: Database.Database;
  /** The durable alert outbox. */
  readonly alerts: AlertOutbox;
  /** Holds, suppression counters and the log of changes of state. */
  readonly holds: HoldBook;

  constructor(readonly path: string) {
    this.db = openStateDatabase(path, SCHEMA);
    this.alerts = new AlertOutbox(this.db);
    this.holds = new HoldBook(this.db);
  }

  /**
   * Changes whenever the ledger changed, through this connection or another process's (a
   * `guardian resume` in another terminal): lets a reader cache what it read.
   */
  version(): string {
    const others = this.db.pragma('data_version', { simple: true }) as number;
    const own = (this.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    return `${others}:${own}`;
  }

  /** Why a mode+resource gets no automatic remediation at `now` (paused or held), or undefined. */
  quiet(mode: string, resource: string, now = Date.now()): Quiet | undefined {
    const pause = this.pause(mode, resource);
    if (pause) return { kind: 'paused', ...pause, until: null };
    const hold = this.holds.active(mode, resource, now);
    return hold && quietOfHold(hold);
  }

  /** Every paused or held mode+resource, oldest first. */
  quietAll(now = Date.now()): Quiet[] {
    const paused = this.pauses().map((p): Quiet => ({ kind: 'paused', ...p, until: null }));
    return [...paused, ...this.holds.list(now).map(quietOfHold)].sort((a, b) => a.since - b.since);
  }

  /**
   * Records a new incident and decides whether to heal it. Idempotent per workflow run: a retried
   * call returns the decision already taken instead of counting again.
   */
  openIncident(
    incident: Pick<
      IncidentRecord,
      'workflowId' | 'runId' | 'mode' | 'host' | 'resource' | 'evidence' | 'detectedAt' | 'injectedAt'
    >,
    flap: { limit: number; windowMs: number },
    now = Date.now(),
  ): FlapDecision {
    return this.db.transaction((): FlapDecision => {
      const existing = this.db
        .prepare('SELECT decision FROM incidents WHERE workflow_id = ? AND run_id = ?')
        .get(incident.workflowId, incident.runId) as { decision: FlapDecision['decision'] } | undefined;
      const healsInWindow = this.healsSince(incident.mode, incident.resource, now - flap.windowMs);
      if (existing) return { decision: existing.decision, healsInWindow };
      let decision: FlapDecision['decision'] = 'heal';
      const quiet = this.quiet(incident.mode, incident.resource, now);
      if (quiet) decision = quiet.kind;
      else if (healsInWindow >= flap.limit) {
        decision = 'flapping';
        const reason = `${healsInWindow} heals within ${flap.windowMs} ms`;
        this.db
          .prepare('INSERT OR REPLACE INTO pauses (mode, resource, since, reason) VALUES (?, ?, ?, ?)')
          .run(incident.mode, incident.resource, now, reason);
        this.holds.logChange(now, incident.mode, incident.resource, 'paused', reason);
      }
      this.db
        .prepare(
          `INSERT INTO incidents (workflow_id, run_id, mode, host, resource, evidence, detected_at, injected_at,
             outcome, decision, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'healing', ?, ?)`,
        )
        .run(
          incident.workflowId,
          incident.runId,
          incident.mode,
          incident.host,
          incident.resource,
          incident.evidence,
          incident.detectedAt,
          incident.injectedAt,
          decision,
          now,
        );
      return { decision, healsInWindow };
    })();
  }

  /**
   * Updates an incident's outcome, timings, steps and summary. A run recorded as rolled back no
   * longer counts as a heal for flap protection: the operator undid it, so it healed nothing.
   */
  recordIncident(
    update: Pick<IncidentRecord, 'workflowId' | 'runId' | 'outcome' | 'healedAt' | 'mttrMs' | 'steps' | 'summary'>,
  ): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE incidents SET outcome = ?, healed_at = ?, mttr_ms = ?, steps = ?, summary = ?, updated_at = ?
           WHERE workflow_id = ? AND run_id = ?`,
        )
        .run(
          update.outcome,
          update.healedAt,
          update.mttrMs,
          JSON.stringify(update.steps),
          update.summary,
          Date.now(),
          update.workflowId,
          update.runId,
        );
      if (update.outcome === 'rolled-back')
        this.db.prepare('DELETE FROM heals WHERE workflow_id = ? AND run_id = ?').run(update.workflowId, update.runId);
    })();
  }

  /** Counts one heal for flap protection (once per workflow run). */
  recordHeal(heal: { workflowId: string; runId: string; mode: string; resource: string; at: number }): void {
    this.db
      .prepare('INSERT OR IGNORE INTO heals (workflow_id, run_id, mode, resource, at) VALUES (?, ?, ?, ?, ?)')
      .run(heal.workflowId, heal.runId, heal.mode, heal.resource, heal.at);
  }

  healsSince(mode: string, resource: string, since: number): number {
    const row = this.db
      .prepare('SELECT count(*) AS n FROM heals WHERE mode = ? AND resource = ? AND at >= ?')
      .get(mode, resource, since) as { n: number };
    return row.n;
  }

  pause(mode: string, resource: string): Pause | undefined {
    return this.db.prepare('SELECT * FROM pauses WHERE mode = ? AND resource = ?').get(mode, resource) as
      Pause | undefined;
  }

  pauses(): Pause[] {
    return this.db.prepare('SELECT * FROM pauses ORDER BY since').all() as Pause[];
  }

  /**
   * Lifts a pause and a hold; returns what was lifted. Heals counted before now no longer count,
   * and the change is logged once.
   */
  resume(mode: string, resource: string, now = Date.now()): QuietKind[] {
    return this.db.transaction(() => {
      const lifted: QuietKind[] = [];
      if (this.db.prepare('DELETE FROM pauses WHERE mode = ? AND resource = ?').run(mode, resource).changes > 0)
        lifted.push('paused');
      if (this.holds.lift(mode, resource)) lifted.push('held');
      this.db.prepare('DELETE FROM heals WHERE mode = ? AND resource = ? AND at <= ?').run(mode, resource, now);
      this.holds.clearSuppression(mode, resource);
      if (lifted.length > 0) this.holds.logChange(now, mode, resource, 'resumed', `was ${lifted.join(' and ')}`);
      return lifted;
    })();
  }

  /** Incidents, newest first. */
  incidents(filter: { mode?: string; limit?: number } = {}): IncidentRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM incidents WHERE (? IS NULL OR mode = ?) ORDER BY detected_at DESC LIMIT ?`)
      .all(filter.mode ?? null, filter.mode ?? null, filter.limit ?? 100) as Record<string, unknown>[];
    return rows.map(toRecord);
  }

  incident(workflowId: string): IncidentRecord | undefined {
    const row = this.db
      .prepare('SELECT * FROM incidents WHERE workflow_id = ? ORDER BY detected_at DESC LIMIT 1')
      .get(workflowId) as Record<string, unknown> | undefined;
    return row && toRecord(row);
  }

  close(): void {
    this.db.close();
  }
}

function quietOfHold(hold: Hold): Quiet {
  const { mode, resource, since, reason, until } = hold;
  return { kind: 'held', mode, resource, since, reason, until };
}
