import { createServer } from 'node:net';

/** True when nothing listens on 127.0.0.1:port (a bind succeeds). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The first port of `count` consecutive free ports, searched from `from` (bounded to 200 tries). */
export async function freePortRange(count: number, from = 18000): Promise<number> {
  for (let start = from; start < from + 200 * count; start += count) {
    let ok = true;
    for (let p = start; p < start + count && ok; p++) ok = await isPortFree(p);
    if (ok) return start;
  }
  throw new Error(`no ${count} consecutive free ports found from ${from}`);
}
