// A stand-in for "the outside world" on loopback: a remote HTTP API that can be slow, down or
// refuse keys on demand, an OAuth2 token endpoint, and a DNS server. Drills and tests start it,
// break it and mend it; nothing here leaves 127.0.0.1.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';

/**
 * @typedef {object} RemoteBehaviour
 * @property {number} delayMs        wait before answering (the spec's 35 s endpoint is delayMs: 35000)
 * @property {number | null} status  answer every API call with this status instead
 * @property {string[] | null} keys  bearer tokens accepted; null: no authentication
 * @property {boolean} dnsSilent     the DNS server drops queries instead of answering
 * @property {401 | 403} refuseStatus  the answer to a key it does not accept (a missing one always gets 401)
 */

/**
 * Starts the stand-in.
 * @param {{ port?: number, host?: string, role?: string, dnsPort?: number, keys?: string[] | null,
 *   refreshTokens?: string[], accessTokenTtlS?: number, jwt?: boolean }} [options]
 */
export async function startRemoteApi(options = {}) {
  const host = options.host ?? '127.0.0.1';
  if (!/^127\.|^localhost$|^::1$/.test(host)) throw new Error(`remote-api binds loopback only, not ${host}`);
  const role = options.role ?? 'primary';
  /** @type {RemoteBehaviour} */
  const behaviour = { delayMs: 0, status: null, keys: options.keys ?? null, dnsSilent: false, refuseStatus: 401 };
  const refreshTokens = new Set(options.refreshTokens ?? []);
  /** @type {{ id: number, method: string, path: string, body: string, at: number }[]} */
  const received = [];
  const stats = { calls: 0, authFailures: 0, tokenGrants: 0, dnsQueries: 0 };

  const server = http.createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 1000;

  async function handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://remote.local');
    const body = await readBody(req);
    if (url.pathname.startsWith('/_admin/')) return admin(url.pathname.slice(7), body, res);
    if (url.pathname === '/oauth/token' && req.method === 'POST') return token(body, res);
    stats.calls++;
    if (behaviour.delayMs > 0) {
      const closed = new Promise((resolve) => res.once('close', resolve));
      await Promise.race([sleep(behaviour.delayMs), closed]);
      if (res.destroyed || res.writableEnded) return;
    }
    if (behaviour.status !== null) return json(res, behaviour.status, { error: `forced ${behaviour.status}`, role });
    if (behaviour.keys) {
      const auth = String(req.headers.authorization ?? '');
      const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!behaviour.keys.includes(key)) {
        stats.authFailures++;
        return json(res, key ? behaviour.refuseStatus : 401, {
          error: key ? 'key refused' : 'authentication required',
          role,
        });
      }
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      return json(res, 200, {
        role,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        n: stats.calls,
        at: Date.now(),
      });
    }
    const entry = {
      id: received.length + 1,
      method: req.method ?? 'POST',
      path: url.pathname + url.search,
      body,
      at: Date.now(),
    };
    received.push(entry);
    return json(res, 201, { received: entry.id, role });
  }

  function token(body, res) {
    const form = new URLSearchParams(body);
    const refresh = form.get('refresh_token') ?? '';
    if (form.get('grant_type') !== 'refresh_token' || !refreshTokens.has(refresh)) {
      return json(res, 400, { error: 'invalid_grant' });
    }
    stats.tokenGrants++;
    const ttl = options.accessTokenTtlS ?? 3600;
    const access = options.jwt
      ? makeJwt({ sub: 'guardian', exp: Math.floor(Date.now() / 1000) + ttl })
      : `at-${randomBytes(12).toString('hex')}`;
    behaviour.keys = [...(behaviour.keys ?? []), access];
    return json(res, 200, { access_token: access, token_type: 'Bearer', expires_in: ttl });
  }

  function admin(action, body, res) {
    if (action === 'state' && body) Object.assign(behaviour, JSON.parse(body));
    if (action === 'received') return json(res, 200, { received });
    return json(res, 200, { ...behaviour, keys: behaviour.keys?.length ?? null, stats });
  }

  let dns;
  const listen = async () => {
    if (!server.listening) {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: handleObj.port, host }, () => {
          server.off('error', reject);
          resolve(undefined);
        });
      });
      handleObj.port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
    }
    if (options.dnsPort !== undefined && !dns) {
      dns = dgram.createSocket('udp4');
      dns.on('message', (msg, rinfo) => {
        stats.dnsQueries++;
        if (behaviour.dnsSilent) return;
        const answer = dnsAnswer(msg);
        if (answer) dns?.send(answer, rinfo.port, rinfo.address);
      });
      await new Promise((resolve, reject) => {
        dns.once('error', reject);
        dns.bind(handleObj.dnsPort, host, () => resolve(undefined));
      });
      handleObj.dnsPort = dns.address().port;
    }
  };

  const handleObj = {
    role,
    port: options.port ?? 0,
    /** @type {number | undefined} */
    dnsPort: options.dnsPort,
    behaviour,
    received,
    stats,
    get url() {
      return `http://${host}:${handleObj.port}`;
    },
    get listening() {
      return server.listening;
    },
    /** Changes behaviour: `{ delayMs, status, keys, dnsSilent }`. */
    set(changes) {
      Object.assign(behaviour, changes);
    },
    addRefreshToken(value) {
      refreshTokens.add(value);
    },
    /** Stops answering: HTTP (and, unless `keepDns`, DNS) sockets closed, so connections are refused. */
    async stop({ keepDns = false } = {}) {
      if (server.listening) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(() => resolve(undefined)));
      }
      if (dns && !keepDns) {
        const socket = dns;
        dns = undefined;
        await new Promise((resolve) => socket.close(() => resolve(undefined)));
      }
    },
    /** Starts answering again on the same ports. */
    async start() {
      await listen();
    },
  };
  await listen();
  return handleObj;
}

/** A JWT-shaped token (unsigned: the stand-in checks it by value, like an opaque key). */
export function makeJwt(payload) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.${randomBytes(8).toString('base64url')}`;
}

/** Answers an A query with 127.0.0.1; other types get an empty answer. */
function dnsAnswer(msg) {
  if (msg.length < 12) return undefined;
  let offset = 12;
  while (offset < msg.length && msg[offset] !== 0) offset += (msg[offset] ?? 0) + 1;
  const questionEnd = offset + 5;
  if (questionEnd > msg.length) return undefined;
  const qtype = msg.readUInt16BE(offset + 1);
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
  const question = msg.subarray(12, questionEnd);
  if (qtype !== 1) return Buffer.concat([header, question]);
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 1]);
  return Buffer.concat([header, question, answer]);
}

async function readBody(req) {
  const parts = [];
  for await (const chunk of req) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
