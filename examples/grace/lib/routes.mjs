// Grace's own API: the world model, recent metrics, AI completions and outbound calls.
import { HttpError } from './errors.mjs';

/**
 * @typedef {import('./app.mjs').App} App
 * @typedef {ReturnType<import('./http.mjs').createRouter>} Router
 */

/** Reads `?limit=` within bounds, so one request cannot ask for the whole table. */
function limitParam(url, fallback, max) {
  const raw = url.searchParams.get('limit');
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new HttpError(400, `limit must be an integer 1..${max}`);
  return n;
}

/** Records who did what; the audit trail is best effort and never fails a request. */
export function audit(app, actor, action) {
  try {
    app.dbs.use('audit', (db) =>
      db.prepare('INSERT INTO events(ts, actor, action) VALUES (?, ?, ?)').run(Date.now(), actor, action),
    );
  } catch {
    // Closed or failing: already visible in health and the sqlite.error log.
  }
}

/** @param {Router} router @param {App} app */
export function addAppRoutes(router, app) {
  router.add('GET', '/', () => ({
    body: {
      name: 'grace',
      message: 'Hello from Grace, a local-first AI service.',
      status: app.status(),
      port: app.runtime.boundPort,
    },
  }));

  router.add('GET', '/world', ({ url }) => {
    const limit = limitParam(url, 50, 500);
    const key = `world:${limit}`;
    const hit = app.caches.world.get(key);
    if (hit) return { body: { rows: hit, cached: true } };
    const rows = app.dbs.use('world_model', (db) =>
      db.prepare('SELECT id, name, data FROM entities ORDER BY id LIMIT ?').all(limit),
    );
    app.caches.world.set(key, rows, JSON.stringify(rows).length);
    return { body: { rows, cached: false } };
  });

  router.add('POST', '/world', async ({ json }) => {
    const body = await json();
    if (typeof body.name !== 'string' || !body.name || body.name.length > 200) {
      throw new HttpError(400, 'name must be a string of 1..200 characters');
    }
    const data = typeof body.data === 'string' ? body.data : JSON.stringify(body.data ?? null);
    const { lastInsertRowid } = app.dbs.use('world_model', (db) =>
      db.prepare('INSERT INTO entities(name, data) VALUES (?, ?)').run(body.name, data),
    );
    // Cached pages of /world are now out of date.
    app.caches.world.clear();
    audit(app, 'api', `world.insert:${lastInsertRowid}`);
    return { status: 201, body: { ok: true, id: Number(lastInsertRowid) } };
  });

  router.add('GET', '/metrics/recent', ({ url }) => {
    const limit = limitParam(url, 50, 1000);
    const samples = app.dbs.use('metrics', (db) =>
      db.prepare('SELECT ts, name, value FROM samples ORDER BY rowid DESC LIMIT ?').all(limit),
    );
    return { body: { samples } };
  });

  router.add('POST', '/ai/complete', async ({ json }) => {
    const { prompt } = await json();
    if (typeof prompt !== 'string' || !prompt.trim() || prompt.length > 20000) {
      throw new HttpError(400, 'prompt must be a non-empty string of at most 20000 characters');
    }
    return { body: await app.ai.complete(prompt) };
  });

  router.add('GET', '/api/external/:name', async ({ params, url }) => {
    const reply = await app.external.handle(params.name ?? '', url.searchParams.get('path') ?? '/');
    return { status: reply.status, body: reply.body, headers: reply.headers };
  });

  // A write to an outside API (through the egress proxy, queued while offline).
  router.add('POST', '/api/external/:name', async ({ params, url, json }) => {
    const body = JSON.stringify(await json());
    const reply = await app.external.handle(params.name ?? '', url.searchParams.get('path') ?? '/', {
      method: 'POST',
      body,
    });
    return { status: reply.status, body: reply.body, headers: reply.headers };
  });
}
