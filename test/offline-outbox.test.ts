import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { drainOutbox } from '../lib/egress/outbox.js';
import { EgressStore } from '../lib/egress/store.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());

describe('offline outbox', () => {
  it('keeps draining the other endpoints past one that refuses, keeping that one’s calls queued in order', async () => {
    const received: string[] = [];
    const up = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
    const down = createServer();
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const downPort = (down.address() as AddressInfo).port;
    await new Promise<void>((resolve) => down.close(() => resolve()));
    const ports: Record<string, number> = { up: (up.address() as AddressInfo).port, down: downPort };

    const store = new EgressStore(join(tmp.dir, 'egress.db'));
    try {
      const queue = (endpoint: string, n: number) =>
        store.enqueue({
          endpoint,
          method: 'POST',
          path: '/',
          contentType: 'text/plain',
          body: Buffer.from(`${endpoint}${n}`),
        });
      queue('down', 1);
      queue('up', 1);
      queue('down', 2);
      queue('up', 2);
      const summary = await drainOutbox(store, 100, (entry) => ({
        url: `http://127.0.0.1:${ports[entry.endpoint]}/`,
        method: entry.method,
        headers: {},
        ...(entry.body ? { body: entry.body } : {}),
        timeoutMs: 2000,
      }));
      assert.deepEqual(received, ['up1', 'up2'], 'the reachable endpoint got its calls, in order');
      assert.equal(summary.sent, 2);
      assert.equal(summary.pending, 2, 'the unreachable endpoint’s calls are still queued (and reported)');
      assert.deepEqual(
        store.outbox(['pending']).map((e) => e.body?.toString()),
        ['down1', 'down2'],
      );
    } finally {
      store.db.close();
      await new Promise<void>((resolve) => up.close(() => resolve()));
    }
  });
});
