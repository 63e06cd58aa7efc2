import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { EgressCall } from './routing.js';

/** Header that carries the service's egress token (docs/contract.md, section 8). */
export const EGRESS_TOKEN_HEADER = 'x-guardian-egress-token';

const MAX_BODY_BYTES = 1 << 20;

/** A new egress token: 32 random bytes, base64url. */
export function newEgressToken(): string {
  return randomBytes(32).toString('base64url');
}

/** True when the request carries `token` in {@link EGRESS_TOKEN_HEADER} (compared in constant time). */
export function carriesToken(req: IncomingMessage, token: string): boolean {
  const given = req.headers[EGRESS_TOKEN_HEADER];
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Listens on 127.0.0.1:`port` (0: any free port). */
export function listen(port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  server.keepAliveTimeout = 2000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** The endpoint a request names (first path segment) and the call under it. */
export type ParsedRequest = { endpoint: string; call: EgressCall } | { tooLarge: true };

/** Reads one request of the service: `/<endpoint>/<path>?<query>`, its headers and body (at most 1 MiB). */
export async function parseRequest(req: IncomingMessage): Promise<ParsedRequest> {
  const url = new URL(req.url ?? '/', 'http://egress.local');
  const [, rawName = '', ...rest] = url.pathname.split('/');
  const method = (req.method ?? 'GET').toUpperCase();
  const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req);
  if (body === null) return { tooLarge: true };
  return {
    endpoint: safeDecode(rawName),
    call: {
      method,
      path: `/${rest.join('/')}${url.search}`,
      body,
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      offline: /^(1|true)$/i.test(String(req.headers['x-guardian-offline'] ?? '')),
    },
  };
}

/** Writes a reply: JSON for objects, bytes as they are. */
export function send(
  res: ServerResponse,
  status: number,
  body: Buffer | Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  const isBuffer = Buffer.isBuffer(body);
  res.writeHead(status, { 'content-type': isBuffer ? 'application/octet-stream' : 'application/json', ...headers });
  res.end(isBuffer ? body : JSON.stringify(body));
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The request body, or null when it is over the limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}
