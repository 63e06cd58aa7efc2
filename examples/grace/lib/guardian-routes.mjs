// The routes Guardian uses: health and boot state (read-only, no token) and the
// token-protected control hooks.
import { createHash, timingSafeEqual } from 'node:crypto';
import { audit } from './routes.mjs';
import { defineActions } from './control.mjs';

/** True when the peer is this machine: control hooks never answer anything else. */
function isLoopbackPeer(address) {
  return !!address && (address === '::1' || /^(::ffff:)?127\./.test(address));
}

/**
 * Compares the bearer token in constant time. Hashing first gives equal lengths, so
 * neither the content nor the length of the secret leaks through timing.
 */
export function tokenMatches(header, expected) {
  if (!expected) return false;
  const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}

/** @param {import('./app.mjs').App} app */
export function healthBody(app) {
  const { runtime, dbs, config, caches, boot } = app;
  return {
    status: app.status(),
    pid: process.pid,
    port: runtime.boundPort,
    bootMs: runtime.bootMs,
    uptimeMs: Date.now() - runtime.startedAt,
    databases: dbs.health(),
    degradedChunks: boot.degraded(),
    deferredChunks: boot.deferred(),
    offline: runtime.offline,
    lowMemory: runtime.lowMemory,
    disabledFeatures: [...runtime.disabledFeatures],
    rssBytes: process.memoryUsage.rss(),
    cacheBytes: caches.totalBytes(),
    cacheEntries: caches.entries(),
    concurrency: app.limiter.limit(),
    config: { ok: config.status.ok, path: config.file, ...(config.status.error ? { error: config.status.error } : {}) },
  };
}

/**
 * @param {ReturnType<import('./http.mjs').createRouter>} router
 * @param {import('./app.mjs').App} app
 */
export function addGuardianRoutes(router, app) {
  const actions = defineActions(app);
  const token = app.settings.controlToken;

  router.add('GET', '/guardian/health', () => ({ body: healthBody(app) }));
  router.add('GET', '/guardian/boot', () => ({ body: app.boot.snapshot() }));

  router.add('POST', '/guardian/control/:action', async ({ req, params, json }) => {
    if (!isLoopbackPeer(req.socket.remoteAddress))
      return { status: 403, body: { ok: false, error: 'control hooks answer loopback only' } };
    if (!token)
      return {
        status: 401,
        body: { ok: false, error: 'control hooks are disabled: GUARDIAN_CONTROL_TOKEN is not set' },
      };
    if (!tokenMatches(req.headers.authorization, token))
      return { status: 401, body: { ok: false, error: 'missing or wrong bearer token' } };
    const action = params.action ?? '';
    const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!run)
      return {
        status: 404,
        body: { ok: false, error: `unknown control action "${action}"`, actions: Object.keys(actions) },
      };
    const reply = run(await json());
    const status = reply.status ?? 200;
    app.logger.info('control', `control action ${action}`, { action, status, ok: reply.body.ok });
    audit(app, 'guardian', `control:${action}`);
    return { status, body: reply.body };
  });
}
