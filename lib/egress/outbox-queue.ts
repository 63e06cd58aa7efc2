import type Database from 'better-sqlite3';

/** How a queued call ended up; `sending` only while a drain has it in flight. */
export type OutboxState = 'pending' | 'sending' | 'sent' | 'failed' | 'unknown';

/** A call made while offline, waiting to be sent once the network is back. */
export interface OutboxEntry {
  id: number;
  endpoint: string;
  method: string;
  path: string;
  contentType: string | null;
  body: Buffer | null;
  createdAt: number;
  state: OutboxState;
  attemptedAt: number | null;
  status: number | null;
  error: string | null;
}

/** How many calls of the outbox are in each state. */
export type OutboxCounts = Record<OutboxState, number>;

/** The outbox table; `drain` (added later, hence the migration) names the drain that claimed a call. */
export const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
  content_type TEXT, body BLOB, created_at INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
  attempted_at INTEGER, status INTEGER, error TEXT);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
`;

/**
 * The offline outbox in `egress.db`: calls queued while offline, claimed one at a time by a drain
 * (named by a key a retried drain keeps), so that each call is sent at most once and every call a
 * drain claimed is counted by that drain, also across a crash of Guardian in the middle of it.
 */
export class OutboxQueue {
  /** Calls this process has in flight: a `sending` call not among them was left by a Guardian that died. */
  private readonly inFlight = new Set<number>();

  constructor(private readonly db: Database.Database) {
    const columns = db.pragma('table_info(outbox)') as { name: string }[];
    if (!columns.some((c) => c.name === 'drain')) db.exec('ALTER TABLE outbox ADD COLUMN drain TEXT');
  }

  /** Calls queued and not sent yet. */
  pendingCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM outbox WHERE state = 'pending'").get() as { n: number }).n;
  }

  /** Appends a call to the outbox; returns its id (the order it will be sent in). */
  enqueue(entry: {
    endpoint: string;
    method: string;
    path: string;
    contentType: string | null;
    body: Buffer | null;
  }): number {
    const { lastInsertRowid } = this.db
      .prepare('INSERT INTO outbox (endpoint, method, path, content_type, body, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(entry.endpoint, entry.method, entry.path, entry.contentType, entry.body, Date.now());
    return Number(lastInsertRowid);
  }

  /**
   * Takes the oldest pending call for drain `drain` and marks it `sending`, in one transaction. A
   * call found `sending` that no drain of this process has in flight (Guardian died mid-send) may
   * have been delivered: it becomes `unknown`, is never sent again, and is counted by `drain`, so
   * the drain that runs after the crash reports it. Calls to `skipEndpoints` are left queued.
   */
  claimNext(drain: string, skipEndpoints: readonly string[] = []): OutboxEntry | undefined {
    const entry = this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE outbox SET state = 'unknown', error = 'Guardian stopped while sending it', drain = ?
           WHERE state = 'sending' AND id NOT IN (SELECT value FROM json_each(?))`,
        )
        .run(drain, JSON.stringify([...this.inFlight]));
      const row = this.db
        .prepare(
          `SELECT * FROM outbox WHERE state = 'pending' AND endpoint NOT IN (SELECT value FROM json_each(?))
           ORDER BY id LIMIT 1`,
        )
        .get(JSON.stringify(skipEndpoints)) as RawOutbox | undefined;
      if (!row) return undefined;
      const attemptedAt = Date.now();
      this.db
        .prepare("UPDATE outbox SET state = 'sending', attempted_at = ?, drain = ? WHERE id = ?")
        .run(attemptedAt, drain, row.id);
      return { ...toEntry(row), state: 'sending' as const, attemptedAt };
    })();
    if (entry) this.inFlight.add(entry.id);
    return entry;
  }

  /** Records how a claimed call went; `pending` puts back one that certainly never left. */
  settle(
    id: number,
    state: 'sent' | 'failed' | 'unknown' | 'pending',
    result: { status?: number; error?: string } = {},
  ): void {
    this.db
      .prepare('UPDATE outbox SET state = ?, status = ?, error = ? WHERE id = ?')
      .run(state, result.status ?? null, result.error ?? null, id);
    this.inFlight.delete(id);
  }

  /** The calls in `states` (all when omitted), oldest first. */
  list(states?: readonly OutboxState[]): OutboxEntry[] {
    const rows = this.db.prepare('SELECT * FROM outbox ORDER BY id').all() as RawOutbox[];
    return rows.map(toEntry).filter((e) => !states || states.includes(e.state));
  }

  /** How many calls are in each state: all of the outbox, or those drain `drain` claimed. */
  counts(drain?: string): OutboxCounts {
    const counts: OutboxCounts = { pending: 0, sending: 0, sent: 0, failed: 0, unknown: 0 };
    const rows = (
      drain === undefined
        ? this.db.prepare('SELECT state, count(*) AS n FROM outbox GROUP BY state').all()
        : this.db.prepare('SELECT state, count(*) AS n FROM outbox WHERE drain = ? GROUP BY state').all(drain)
    ) as { state: OutboxState; n: number }[];
    for (const { state, n } of rows) counts[state] = n;
    return counts;
  }

  /** Ids of the calls drain `drain` sent (whatever came of them), in the order they left. */
  sentOrder(drain: string): number[] {
    return (
      this.db
        .prepare(
          "SELECT id FROM outbox WHERE drain = ? AND state IN ('sent', 'failed', 'unknown') ORDER BY attempted_at, id",
        )
        .all(drain) as { id: number }[]
    ).map((r) => r.id);
  }
}

interface RawOutbox {
  id: number;
  endpoint: string;
  method: string;
  path: string;
  content_type: string | null;
  body: Buffer | null;
  created_at: number;
  state: OutboxState;
  attempted_at: number | null;
  status: number | null;
  error: string | null;
}

function toEntry(row: RawOutbox): OutboxEntry {
  return {
    id: row.id,
    endpoint: row.endpoint,
    method: row.method,
    path: row.path,
    contentType: row.content_type,
    body: row.body,
    createdAt: row.created_at,
    state: row.state,
    attemptedAt: row.attempted_at,
    status: row.status,
    error: row.error,
  };
}
