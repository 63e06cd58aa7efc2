// Outbound API calls. With GUARDIAN_EGRESS_URL set they go through Guardian's egress
// proxy (which runs the circuit breaker and may answer from its cache, marking the reply
// with x-guardian-stale); otherwise straight to the endpoint's URL from the config.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { policyAllows } from './config.mjs';
import { describeFetchError, errorCode } from './ai.mjs';

/** Endpoint names double as URL path segments for the egress proxy. */
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Timeout when the endpoint sets none (or is known only to the egress proxy). */
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * @typedef {{ status: number, body: Buffer | Record<string, unknown>, headers: Record<string, string> }} Reply
 */

/**
 * @param {{ egressUrl?: string, credentialsFile: string, runtime: import('./settings.mjs').Runtime,
 *   config: import('./config.mjs').ConfigStore, limiter: import('./caches.mjs').Limiter,
 *   logger: import('./logger.mjs').Logger }} deps
 */
export function createExternal({ egressUrl, credentialsFile, runtime, config, limiter, logger }) {
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
   * @param {string} name @param {string} path
   * @returns {Promise<Reply>}
   */
  async function callEndpoint(name, path) {
    const endpoint = config.current.endpoints[name];
    const suffix = path.startsWith('/') ? path : `/${path}`;
    const url = egressUrl
      ? `${egressUrl}/${encodeURIComponent(name)}${suffix}`
      : `${endpoint.url.replace(/\/+$/, '')}${suffix}`;
    const timeoutMs = endpoint?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json' };
    const token = readToken(credentialsFile, endpoint?.credential);
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
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
    const stale = res.headers.get('x-guardian-stale');
    if (stale !== null) passed['x-guardian-stale'] = stale;
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: passed };
  }

  return {
    callEndpoint,
    /** GET /api/external/:name — the checks that come before any network traffic. */
    async handle(name, path) {
      if (!NAME_PATTERN.test(name)) return reply(400, { error: 'endpoint names use letters, digits, "_" and "-"' });
      // Offline: answer at once; a call that cannot succeed must not tie up a request.
      if (runtime.offline) return reply(503, { offline: true, endpoint: name });
      if (!runtime.isEnabled('external') || !runtime.isEnabled(`external:${name}`)) {
        return reply(503, { disabled: true, endpoint: name });
      }
      if (!policyAllows(config.current, 'external-apis'))
        return reply(403, { error: 'blocked by policy external-apis' });
      if (!egressUrl && !config.current.endpoints[name]) return reply(404, { error: `unknown endpoint "${name}"` });
      return limiter.run(() => callEndpoint(name, path));
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
