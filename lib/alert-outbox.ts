import type Database from 'better-sqlite3';

/** How urgent an alert is. */
export type AlertSeverity = 'info' | 'warning' | 'critical';

/** An alert as its producer hands it over. `key` makes a repeated enqueue (a retry) a no-op. */
export interface NewAlert {
  /** Unique per alert; the webhook receives it as `id` and `Idempotency-Key`. */
  readonly key: string;
  readonly at: number;
  readonly workflowId?: string;
  readonly mode?: string;
  readonly resource?: string;
  readonly severity: AlertSeverity;
  readonly message: string;
}

/** Where an alert's webhook delivery stands. */
export type DeliveryState = 'pending' | 'delivered' | 'abandoned' | 'no-webhook';

/** An alert in the outbox with its delivery state. */
export interface OutboxAlert extends NewAlert {
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
  readonly deliveredAt: number | null;
  /** Written to the alert log file. */
  readonly logged: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alert_outbox (
  key TEXT PRIMARY KEY, at INTEGER NOT NULL, workflow_id TEXT, mode TEXT, resource TEXT, severity TEXT NOT NULL,
  message TEXT NOT NULL, logged INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL, last_error TEXT, delivered_at INTEGER);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS alert_outbox_at ON alert_outbox (at);
`;

/**
 * The durable alert outbox in Guardian's ledger: producers enqueue (never blocked by a channel
 * that is down), {@link AlertDeliverer} delivers. Each alert has a key, so enqueueing it again —
 * a retried activity — adds nothing, and a receiver can drop a redelivery.
 */
export class AlertOutbox {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /**
   * Adds an alert unless its key is there already; `webhook` says whether one is configured
   * (otherwise there is nothing to deliver). Also names the incident's latest alert in the ledger.
   */
  enqueue(alert: NewAlert, webhook: boolean): { created: boolean; alert: OutboxAlert } {
    return this.db.transaction(() => {
      const created =
        this.db
          .prepare(
            `INSERT OR IGNORE INTO alert_outbox (key, at, workflow_id, mode, resource, severity, message, state,
               next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            alert.key,
            alert.at,
            alert.workflowId ?? null,
            alert.mode ?? null,
            alert.resource ?? null,
            alert.severity,
            alert.message,
            webhook ? 'pending' : 'no-webhook',
            alert.at,
          ).changes > 0;
      if (created && alert.workflowId) {
        this.db
          .prepare(
            `UPDATE incidents SET alert = ? WHERE rowid = (SELECT rowid FROM incidents WHERE workflow_id = ?
             ORDER BY detected_at DESC LIMIT 1)`,
          )
          .run(alert.message, alert.workflowId);
      }
      const stored = this.get(alert.key);
      if (!stored) throw new Error(`alert ${alert.key} vanished from the outbox right after it was enqueued`);
      return { created, alert: stored };
    })();
  }

  /** One alert by key. */
  get(key: string): OutboxAlert | undefined {
    const row = this.db.prepare('SELECT * FROM alert_outbox WHERE key = ?').get(key) as Row | undefined;
    return row && toAlert(row);
  }

  /** Records that the alert is in the alert log file. */
  markLogged(key: string): void {
    this.db.prepare('UPDATE alert_outbox SET logged = 1 WHERE key = ?').run(key);
  }

  /** Alerts whose webhook delivery is due, oldest first. */
  due(now: number, limit: number): OutboxAlert[] {
    const rows = this.db
      .prepare(`SELECT * FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY at, key LIMIT ?`)
      .all(now, limit) as Row[];
    return rows.map(toAlert);
  }

  /** The webhook took it. */
  delivered(key: string, at: number): void {
    this.db
      .prepare(`UPDATE alert_outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1 WHERE key = ?`)
      .run(at, key);
  }

  /** A delivery failed: tried again at `nextAttemptAt`, or never when `abandon`. */
  failed(key: string, error: string, nextAttemptAt: number, abandon: boolean): void {
    this.db
      .prepare(
        `UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, state = ? WHERE key = ?`,
      )
      .run(error, nextAttemptAt, abandon ? 'abandoned' : 'pending', key);
  }

  /** Alerts not delivered yet (pending or abandoned), for `guardian status`. */
  undelivered(): OutboxAlert[] {
    const rows = this.db
      .prepare(`SELECT * FROM alert_outbox WHERE state IN ('pending', 'abandoned') ORDER BY at`)
      .all() as Row[];
    return rows.map(toAlert);
  }

  /** The latest alerts, newest first. */
  latest(limit = 50): OutboxAlert[] {
    const rows = this.db.prepare('SELECT * FROM alert_outbox ORDER BY at DESC, key LIMIT ?').all(limit) as Row[];
    return rows.map(toAlert);
  }
}

interface Row {
  key: string;
  at: number;
  workflow_id: string | null;
  mode: string | null;
  resource: string | null;
  severity: AlertSeverity;
  message: string;
  logged: number;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  delivered_at: number | null;
}

function toAlert(row: Row): OutboxAlert {
  return {
    key: row.key,
    at: row.at,
    ...(row.workflow_id === null ? {} : { workflowId: row.workflow_id }),
    ...(row.mode === null ? {} : { mode: row.mode }),
    ...(row.resource === null ? {} : { resource: row.resource }),
    severity: row.severity,
    message: row.message,
    logged: row.logged === 1,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
  };
}
