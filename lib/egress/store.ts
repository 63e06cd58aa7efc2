import type Database from 'better-sqlite3';
import { openStateDatabase } from '../state-db.js';
import { OUTBOX_SCHEMA, OutboxQueue } from './outbox-queue.js';

export type { OutboxEntry } from './outbox-queue.js';

/** Circuit breaker state of one endpoint. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** What the proxy enforces for one endpoint; survives a restart of Guardian. */
export interface RouteState {
  circuit: CircuitState;
  /** Timeout of calls to the primary now (the workflows shorten it while it misbehaves). */
  timeoutMs: number;
  /** Disabled for its credentials: cached replies only. */
  disabled: boolean;
  disabledReason: string | null;
}

/** A last good GET reply, served marked stale while the endpoint cannot be used. */
export interface CachedReply {
  status: number;
  contentType: string;
  body: Buffer;
  storedAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS routes (
  endpoint TEXT PRIMARY KEY, circuit TEXT NOT NULL, timeout_ms INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0, disabled_reason TEXT, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS flags (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cache (
  endpoint TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, content_type TEXT NOT NULL,
  body BLOB NOT NULL, stored_at INTEGER NOT NULL, PRIMARY KEY (endpoint, key));
CREATE TABLE IF NOT EXISTS credential_checks (
  credential TEXT PRIMARY KEY, last_refresh_at INTEGER, last_refresh_ok INTEGER,
  rejected_fingerprint TEXT, rejected_at INTEGER);
`;

/**
 * The egress proxy's durable state in Guardian's state directory: route states, the offline flag,
 * the outbox of calls made while offline, the stale-reply cache and credential bookkeeping.
 * Holds no secret values (fingerprints of rejected credentials are salted hashes).
 */
export class EgressStore {
  readonly db: Database.Database;
  /** The offline outbox: calls made while offline, sent once the network is back. */
  readonly outbox: OutboxQueue;

  constructor(readonly path: string) {
    this.db = openStateDatabase(path, SCHEMA + OUTBOX_SCHEMA);
    this.outbox = new OutboxQueue(this.db);
  }

  route(endpoint: string): RouteState | undefined {
    const row = this.db
      .prepare(
        'SELECT circuit, timeout_ms AS timeoutMs, disabled, disabled_reason AS disabledReason FROM routes WHERE endpoint = ?',
      )
      .get(endpoint) as
      { circuit: CircuitState; timeoutMs: number; disabled: number; disabledReason: string | null } | undefined;
    return row && { ...row, disabled: row.disabled === 1 };
  }

  saveRoute(endpoint: string, state: RouteState): void {
    this.db
      .prepare(
        `INSERT INTO routes (endpoint, circuit, timeout_ms, disabled, disabled_reason, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint) DO UPDATE SET circuit = excluded.circuit, timeout_ms = excluded.timeout_ms,
           disabled = excluded.disabled, disabled_reason = excluded.disabled_reason, updated_at = excluded.updated_at`,
      )
      .run(endpoint, state.circuit, state.timeoutMs, state.disabled ? 1 : 0, state.disabledReason, Date.now());
  }

  flag(name: string): string | undefined {
    return (this.db.prepare('SELECT value FROM flags WHERE name = ?').get(name) as { value: string } | undefined)
      ?.value;
  }

  setFlag(name: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO flags (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      )
      .run(name, value, Date.now());
  }

  cached(endpoint: string, key: string): CachedReply | undefined {
    const row = this.db
      .prepare(
        'SELECT status, content_type AS contentType, body, stored_at AS storedAt FROM cache WHERE endpoint = ? AND key = ?',
      )
      .get(endpoint, key) as CachedReply | undefined;
    return row;
  }

  /**
   * Keeps a good reply; the oldest beyond `limit` per endpoint are dropped. It runs on every good
   * call, so its commit skips the fsync (`synchronous = NORMAL` in WAL mode): the proxy never waits
   * for a disk busy with a heal's gigabytes. A crash of Guardian loses none; a power cut may lose
   * the newest few, which only a later offline stretch would have served.
   */
  cache(endpoint: string, key: string, reply: Omit<CachedReply, 'storedAt'>, limit: number): void {
    if (limit <= 0) return;
    this.db.pragma('synchronous = NORMAL');
    try {
      this.storeReply(endpoint, key, reply, limit);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  private storeReply(endpoint: string, key: string, reply: Omit<CachedReply, 'storedAt'>, limit: number): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO cache (endpoint, key, status, content_type, body, stored_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (endpoint, key) DO UPDATE SET status = excluded.status, content_type = excluded.content_type,
             body = excluded.body, stored_at = excluded.stored_at`,
        )
        .run(endpoint, key, reply.status, reply.contentType, reply.body, Date.now());
      this.db
        .prepare(
          'DELETE FROM cache WHERE endpoint = ? AND key NOT IN (SELECT key FROM cache WHERE endpoint = ? ORDER BY stored_at DESC LIMIT ?)',
        )
        .run(endpoint, endpoint, limit);
    })();
  }

  /** The newest cached reply of an endpoint, whatever its path (for checks that need any reply). */
  newestCached(endpoint: string): (CachedReply & { key: string }) | undefined {
    return this.db
      .prepare(
        'SELECT key, status, content_type AS contentType, body, stored_at AS storedAt FROM cache WHERE endpoint = ? ORDER BY stored_at DESC LIMIT 1',
      )
      .get(endpoint) as (CachedReply & { key: string }) | undefined;
  }

  credentialChecks(credential: string): {
    lastRefreshAt: number | null;
    lastRefreshOk: boolean;
    rejectedFingerprint: string | null;
    rejectedAt: number | null;
  } {
    const row = this.db
      .prepare(
        'SELECT last_refresh_at AS lastRefreshAt, last_refresh_ok AS lastRefreshOk, rejected_fingerprint AS rejectedFingerprint, rejected_at AS rejectedAt FROM credential_checks WHERE credential = ?',
      )
      .get(credential) as
      | {
          lastRefreshAt: number | null;
          lastRefreshOk: number | null;
          rejectedFingerprint: string | null;
          rejectedAt: number | null;
        }
      | undefined;
    return {
      lastRefreshAt: row?.lastRefreshAt ?? null,
      lastRefreshOk: row?.lastRefreshOk === 1,
      rejectedFingerprint: row?.rejectedFingerprint ?? null,
      rejectedAt: row?.rejectedAt ?? null,
    };
  }

  /**
   * Claims the one refresh allowed per window: true and recorded when the last attempt is older
   * than `windowMs`, false otherwise. Atomic, so two incidents cannot both refresh.
   */
  claimRefresh(credential: string, windowMs: number, now = Date.now()): boolean {
    return this.db.transaction(() => {
      const { lastRefreshAt } = this.credentialChecks(credential);
      if (lastRefreshAt !== null && now - lastRefreshAt < windowMs) return false;
      this.db
        .prepare(
          'INSERT INTO credential_checks (credential, last_refresh_at, last_refresh_ok) VALUES (?, ?, 0) ON CONFLICT (credential) DO UPDATE SET last_refresh_at = excluded.last_refresh_at, last_refresh_ok = 0',
        )
        .run(credential, now);
      return true;
    })();
  }

  recordRefreshResult(credential: string, ok: boolean): void {
    this.db
      .prepare('UPDATE credential_checks SET last_refresh_ok = ? WHERE credential = ?')
      .run(ok ? 1 : 0, credential);
  }

  /** Remembers which value was refused (by salted fingerprint), so it is not sent again unchanged. */
  recordRejected(credential: string, fingerprint: string | null): void {
    this.db
      .prepare(
        'INSERT INTO credential_checks (credential, rejected_fingerprint, rejected_at) VALUES (?, ?, ?) ON CONFLICT (credential) DO UPDATE SET rejected_fingerprint = excluded.rejected_fingerprint, rejected_at = excluded.rejected_at',
      )
      .run(credential, fingerprint, fingerprint === null ? null : Date.now());
  }

  close(): void {
    this.db.close();
  }
}
