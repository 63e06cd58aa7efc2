// Outbound API calls. With GUARDIAN_EGRESS_URL set they go through Guardian's egress
// proxy (which runs the circuit breaker and may answer from its cache, marking the reply
// with x-guardian-stale); otherwise straight to the endpoint's URL from the config.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { policyAllows } from './config.mjs';
import { describeFetchError, errorCode } from './ai.mjs';

/** Endpoint names double as URL path segments for the egress proxy. */
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Timeout when the endpoint sets none. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Through the egress proxy, the proxy enforces each endpoint's timeout; this only bounds a stuck proxy. */
const PROXY_TIMEOUT_MS = 65_000;

/**
 * @typedef {{ status: number, body: Buffer | Record<string, unknown>, headers: Record<string, string> }} Reply
 */

/**
 * @param {{ egressUrl?: string, egressToken?: string, credentialsFile: string, runtime: import('./settings.mjs').Runtime,
 *   config: import('./config.mjs').ConfigStore, limiter: import('./caches.mjs').Limiter,
 *   logger: import('./logger.mjs').Logger }} deps
 */
export function createExternal({ egressUrl, egressToken, credentialsFile, runtime, config, limiter, logger }) {
  /** @type {Map<string, number>} */
  const lastLogged = new Map();

  /** One line per endpoint and event per second, however many requests fail. */
  function logOnce(level, event, msg, fields) {
    const key = `${event}:${fields.endpoint}:${fields.status ?? ''}`;
    const now = Date.now();
    if (now - (lastLogged.get(key) ?? 0) < 1000) return;
    lastLogged.set(key, now);
    logger[level](event, msg, fields);
  }

  /**
   * Calls `<endpoint url><path>` (or `<egress>/<name><path>`); throws only for unknown names.
   * `offline` (proxy only) asks the proxy to answer without going out: from its cache, or by
   * queueing a write for when the network is back.
   * @param {string} name @param {string} path
   * @param {{ method?: string, body?: string, offline?: boolean }} [options]
   * @returns {Promise<Reply>}
   */
  async function callEndpoint(name, path, { method = 'GET', body, offline = false } = {}) {
    const endpoint = config.current.endpoints[name];
    const suffix = path.startsWith('/') ? path : `/${path}`;
    const url = egressUrl
      ? `${egressUrl}/${encodeURIComponent(name)}${suffix}`
      : `${endpoint.url.replace(/\/+$/, '')}${suffix}`;
    const timeoutMs = egressUrl ? PROXY_TIMEOUT_MS : (endpoint?.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (offline) headers['x-guardian-offline'] = 'true';
    // The proxy serves only the service it was started for: it checks this token.
    if (egressUrl && egressToken) headers['x-guardian-egress-token'] = egressToken;
    const token = readToken(credentialsFile, endpoint?.credential);
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const timedOut = /** @type {any} */ (err)?.name === 'TimeoutError';
      if (timedOut)
        logOnce('warn', 'http.timeout', `${name} did not answer within ${timeoutMs} ms`, { endpoint: name, timeoutMs });
      else logOnce('warn', 'http.error', describeFetchError(err), { endpoint: name, code: errorCode(err) });
      return {
        status: timedOut ? 504 : 502,
        body: { error: timedOut ? 'timeout' : describeFetchError(err), endpoint: name },
        headers: {},
      };
    }
    if (res.status === 401 || res.status === 403) {
      // Names the endpoint only: the credential itself never reaches a log line.
      logOnce('error', 'http.auth_error', `${name} refused our credentials`, { endpoint: name, status: res.status });
    }
    /** @type {Record<string, string>} */
    const passed = { 'content-type': res.headers.get('content-type') ?? 'application/octet-stream' };
    for (const header of ['x-guardian-stale', 'x-guardian-queued']) {
      const value = res.headers.get(header);
      if (value !== null) passed[header] = value;
    }
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: passed };
  }

  return {
    callEndpoint,
    /**
     * GET or POST /api/external/:name — the checks that come before any network traffic.
     * @param {string} name @param {string} path @param {{ method?: string, body?: string }} [call]
     */
    async handle(name, path, call = {}) {
      if (!NAME_PATTERN.test(name)) return reply(400, { error: 'endpoint names use letters, digits, "_" and "-"' });
      // Offline: answer at once; a call that cannot succeed must not tie up a request. Through
      // the egress proxy it still goes to the proxy (on loopback), which serves its cache or
      // queues the write without touching the network.
      if (runtime.offline && !egressUrl) return reply(503, { offline: true, endpoint: name });
      if (!runtime.isEnabled('external') || !runtime.isEnabled(`external:${name}`)) {
        return reply(503, { disabled: true, endpoint: name });
      }
      if (!policyAllows(config.current, 'external-apis'))
        return reply(403, { error: 'blocked by policy external-apis' });
      if (!egressUrl && !config.current.endpoints[name]) return reply(404, { error: `unknown endpoint "${name}"` });
      return limiter.run(() => callEndpoint(name, path, { ...call, offline: runtime.offline }));
    },
  };
}

/** @returns {Reply} */
function reply(status, body) {
  return { status, body, headers: {} };
}

/**
 * Reads a token from config/credentials.yaml (`<credential>: { token: ... }`) on every
 * call, so a replaced key is used at once without a restart.
 */
function readToken(file, credential) {
  if (!credential) return undefined;
  try {
    const doc = YAML.parse(readFileSync(file, 'utf8'));
    const token = doc?.[credential]?.token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}
