// A minimal router on node:http: JSON in, JSON out, and one place that maps thrown
// errors to status codes so no handler can take the process down.
import http from 'node:http';
import { DatabaseUnavailableError, HttpError } from './errors.mjs';
import { isSqliteError } from './sqlite-errors.mjs';

/** Request bodies larger than this are refused (control bodies and prompts are small). */
const MAX_BODY_BYTES = 1 << 20;

/**
 * @typedef {object} RequestContext
 * @property {http.IncomingMessage} req
 * @property {URL} url
 * @property {Record<string, string>} params
 * @property {() => Promise<Record<string, any>>} json   the body as an object ({} when empty)
 *
 * @typedef {{ status?: number, body: unknown, headers?: Record<string, string> }} Reply
 * @typedef {(ctx: RequestContext) => Promise<Reply> | Reply} Handler
 */

export function createRouter() {
  /** @type {{ method: string, pattern: RegExp, keys: string[], handler: Handler }[]} */
  const routes = [];
  return {
    /** @param {string} method @param {string} path  `:name` segments become params @param {Handler} handler */
    add(method, path, handler) {
      const keys = [];
      const source = path.replace(/:([A-Za-z]+)/g, (_, key) => (keys.push(key), '([^/]+)'));
      routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler });
    },
    /** @param {string} method @param {string} pathname */
    match(method, pathname) {
      for (const r of routes) {
        const m = r.pattern.exec(pathname);
        if (!m || r.method !== method) continue;
        const params = Object.fromEntries(r.keys.map((k, i) => [k, safeDecode(m[i + 1] ?? '')]));
        return { handler: r.handler, params };
      }
      return undefined;
    },
  };
}

/** A malformed %-escape stays as typed; the handler's own validation then refuses it. */
function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Reads the body as a JSON object; 400 for anything else. */
async function readJson(req) {
  const parts = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    parts.push(chunk);
  }
  const text = Buffer.concat(parts).toString('utf8').trim();
  if (!text) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new HttpError(400, 'body must be a JSON object');
  return value;
}

/** Sends JSON, or a Buffer as is (pass-through replies keep their own content type). */
function send(res, status, body, headers = {}) {
  const isBuffer = Buffer.isBuffer(body);
  const payload = isBuffer ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': isBuffer ? 'application/octet-stream' : 'application/json', ...headers });
  res.end(payload);
}

/** Maps an error a handler threw to a reply; unexpected ones are logged. */
function errorReply(err, logger, req) {
  if (err instanceof HttpError) return { status: err.status, body: { ok: false, error: err.message } };
  if (err instanceof DatabaseUnavailableError)
    return { status: 503, body: { ok: false, error: err.message, db: err.db } };
  // Already logged as sqlite.error where it happened.
  if (isSqliteError(err)) return { status: 500, body: { ok: false, error: err.message, code: err.code } };
  logger.error('request.error', err instanceof Error ? err.message : String(err), {
    method: req.method,
    path: req.url,
  });
  return { status: 500, body: { ok: false, error: 'internal error' } };
}

/**
 * The server starts with a small router (health only) and gets the full one once the
 * rest of Grace has loaded: binding first keeps start-to-listening short.
 * @param {{ router: ReturnType<typeof createRouter>, logger: import('./logger.mjs').Logger }} options
 */
export function createHttpServer({ router, logger }) {
  let current = router;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://grace.local');
    const route = current.match(req.method ?? 'GET', url.pathname);
    if (!route) return send(res, 404, { ok: false, error: `no route ${req.method} ${url.pathname}` });
    try {
      const reply = await route.handler({ req, url, params: route.params, json: () => readJson(req) });
      send(res, reply.status ?? 200, reply.body, reply.headers);
    } catch (err) {
      const reply = errorReply(err, logger, req);
      if (!res.headersSent) send(res, reply.status, reply.body);
      else res.destroy();
    }
  });
  // Short keep-alive so a SIGTERM does not wait on idle sockets.
  server.keepAliveTimeout = 2000;
  return Object.assign(server, {
    /** @param {ReturnType<typeof createRouter>} next */
    setRouter(next) {
      current = next;
    },
  });
}
