import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CredentialSettings, SecretRef } from '../config/outside.js';
import type { EgressStore } from './store.js';

/** Which value of a credential the proxy sends. */
export type CredentialSlot = 'primary' | 'backup' | 'refreshed';

/** What a refresh-token grant did. Carries no secret. */
export interface RefreshOutcome {
  refreshed: boolean;
  /** Why not, in words safe to log: `recently-refreshed`, `not-configured`, `invalid_grant` … */
  reason?: string;
  /** When the last refresh in the window succeeded, if this call did not refresh. */
  lastRefreshAt?: number;
  expiresAt?: number;
}

interface RefreshedToken {
  accessToken: string;
  refreshToken?: string;
  expiresAt?: number;
  obtainedAt: number;
}

/**
 * The proxy's view of credentials: reads values from the environment or files when a request
 * needs them (so a replaced key file takes effect on the next call), keeps which slot is in use,
 * and runs the OAuth2 refresh-token grant. Values never leave this class except as the header
 * of an upstream request.
 */
export class CredentialStore {
  private readonly fileCache = new Map<string, { signature: string; value: string | undefined }>();
  private readonly salt: string;

  constructor(
    private readonly credentials: readonly CredentialSettings[],
    private readonly stateDir: string,
    private readonly store: EgressStore,
  ) {
    let salt = store.flag('fingerprint-salt');
    if (!salt) {
      salt = randomBytes(16).toString('hex');
      store.setFlag('fingerprint-salt', salt);
    }
    this.salt = salt;
  }

  settings(name: string): CredentialSettings | undefined {
    return this.credentials.find((c) => c.name === name);
  }

  /** The slot in use (survives a restart). */
  slot(name: string): CredentialSlot {
    return (this.store.flag(`credential:${name}:slot`) as CredentialSlot | undefined) ?? 'primary';
  }

  /** Switches the slot; returns the previous one. Refuses a slot that has no value configured. */
  use(name: string, slot: CredentialSlot): CredentialSlot {
    const settings = this.need(name);
    if (slot === 'backup' && !settings.backup) throw new Error(`credential ${name} has no backup configured`);
    if (slot === 'refreshed' && !this.readRefreshed(name)) throw new Error(`credential ${name} has no refreshed token`);
    const previous = this.slot(name);
    this.store.setFlag(`credential:${name}:slot`, slot);
    return previous;
  }

  /** Whether the credential can be refreshed or has a backup. */
  capabilities(name: string): { oauth: boolean; backup: boolean } {
    const settings = this.need(name);
    return { oauth: settings.oauth !== undefined, backup: settings.backup !== undefined };
  }

  /** The header to send now, or undefined when the value is not available. */
  header(name: string): { name: string; value: string } | undefined {
    const settings = this.need(name);
    const value = this.value(name);
    if (value === undefined) return undefined;
    return { name: settings.header.toLowerCase(), value: settings.scheme ? `${settings.scheme} ${value}` : value };
  }

  /** A salted fingerprint of the value in use: compares values without keeping them. */
  fingerprint(name: string): string | null {
    const value = this.value(name);
    return value === undefined ? null : createHmac('sha256', this.salt).update(value).digest('hex').slice(0, 24);
  }

  /** When the value in use expires, if it is a JWT with `exp` (epoch ms). */
  expiresAt(name: string): number | undefined {
    const value = this.value(name);
    return value === undefined ? undefined : jwtExpiry(value);
  }

  /** True when the value in use is a JWT past its exp (less the configured skew). */
  expired(name: string, now = Date.now()): boolean {
    const exp = this.expiresAt(name);
    return exp !== undefined && exp - this.need(name).expirySkew <= now;
  }

  /**
   * Runs the OAuth2 refresh-token grant, at most once per `refreshBackoff` window per credential
   * (recorded in the store, so it holds across incidents and restarts) unless a person asked for it. On success the new access
   * token is kept in a 0600 file under the state directory and becomes the slot in use.
   */
  async refresh(name: string, options: { timeoutMs?: number; userRequested?: boolean } = {}): Promise<RefreshOutcome> {
    const settings = this.need(name);
    const oauth = settings.oauth;
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!oauth) return { refreshed: false, reason: 'not-configured' };
    // A person who says they updated the credential gets one attempt now; automatic ones wait the window.
    if (!this.store.claimRefresh(name, options.userRequested ? 0 : settings.refreshBackoff)) {
      const checks = this.store.credentialChecks(name);
      return {
        refreshed: false,
        reason: checks.lastRefreshOk ? 'recently-refreshed' : 'refresh-refused-recently',
        ...(checks.lastRefreshAt === null ? {} : { lastRefreshAt: checks.lastRefreshAt }),
      };
    }
    const refreshToken = this.readRefreshed(name)?.refreshToken ?? readSecret(oauth.refreshToken);
    if (!refreshToken) return { refreshed: false, reason: 'refresh token not available' };
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: oauth.clientId,
    });
    const clientSecret = oauth.clientSecret && readSecret(oauth.clientSecret);
    if (clientSecret) form.set('client_secret', clientSecret);
    let res: Response;
    try {
      res = await fetch(oauth.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return { refreshed: false, reason: `token endpoint unreachable (${errorCode(err)})` };
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok || typeof body.access_token !== 'string') {
      // Only the OAuth error code is kept: a token endpoint may echo what it was sent.
      const code =
        typeof body.error === 'string' ? body.error.replace(/[^a-z_]/gi, '').slice(0, 40) : `HTTP ${res.status}`;
      return { refreshed: false, reason: code || `HTTP ${res.status}` };
    }
    const now = Date.now();
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : undefined;
    const token: RefreshedToken = {
      accessToken: body.access_token,
      obtainedAt: now,
      ...(typeof body.refresh_token === 'string' ? { refreshToken: body.refresh_token } : {}),
      ...(expiresIn === undefined ? {} : { expiresAt: now + expiresIn * 1000 }),
    };
    this.writeRefreshed(name, token);
    this.store.recordRefreshResult(name, true);
    this.store.setFlag(`credential:${name}:slot`, 'refreshed');
    const expiresAt = token.expiresAt ?? jwtExpiry(token.accessToken);
    return { refreshed: true, ...(expiresAt === undefined ? {} : { expiresAt }) };
  }

  private value(name: string): string | undefined {
    const settings = this.need(name);
    const slot = this.slot(name);
    if (slot === 'refreshed') return this.readRefreshed(name)?.accessToken;
    const ref = slot === 'backup' ? settings.backup : settings.token;
    return ref && this.readRef(ref);
  }

  private readRef(ref: SecretRef): string | undefined {
    if ('env' in ref) return process.env[ref.env] || undefined;
    let signature: string;
    try {
      const s = statSync(ref.file);
      signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return undefined;
    }
    const hit = this.fileCache.get(ref.file);
    if (hit?.signature === signature) return hit.value;
    const value = readSecret(ref);
    this.fileCache.set(ref.file, { signature, value });
    return value;
  }

  private refreshedPath(name: string): string {
    return join(this.stateDir, 'credentials', `${name}.json`);
  }

  private readRefreshed(name: string): RefreshedToken | undefined {
    try {
      return JSON.parse(readFileSync(this.refreshedPath(name), 'utf8')) as RefreshedToken;
    } catch {
      return undefined;
    }
  }

  private writeRefreshed(name: string, token: RefreshedToken): void {
    const path = this.refreshedPath(name);
    mkdirSync(join(this.stateDir, 'credentials'), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, JSON.stringify(token), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  }

  private need(name: string): CredentialSettings {
    const settings = this.settings(name);
    if (!settings) throw new Error(`no credential named "${name}" in guardian.yaml (credentials)`);
    return settings;
  }
}

/** Reads a secret reference now; undefined when unset, missing or empty. */
export function readSecret(ref: SecretRef): string | undefined {
  if ('env' in ref) return process.env[ref.env] || undefined;
  try {
    return readFileSync(ref.file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The `exp` of a JWT in epoch ms, or undefined when the value is not a JWT or has none. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The socket error code under a fetch failure (undici hides it in `cause`). */
export function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: unknown; cause?: { code?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'ETIMEDOUT';
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  if (typeof e?.code === 'string') return e.code;
  return e?.name ?? 'UNKNOWN';
}
