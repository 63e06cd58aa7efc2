import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { drainOutbox } from '../lib/egress/outbox.js';
import { EgressStore } from '../lib/egress/store.js';
import { outboxReport, renderOutbox } from '../lib/outbox-report.js';
import { tempDir } from './helpers/fixture.js';
import { root } from './helpers/lifecycle.js';

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
        store.outbox.enqueue({
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
      const summary = await drainOutbox(store.outbox, 'drain-1', 100, (entry) => ({
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
        store.outbox.list(['pending']).map((e) => e.body?.toString()),
        ['down1', 'down2'],
      );
    } finally {
      store.db.close();
      await new Promise<void>((resolve) => up.close(() => resolve()));
    }
  });

  it('a retried drain counts every call the drain claimed: what the attempt that died sent, the call in flight as unknown, and the rest', async () => {
    const stateDir = join(tmp.dir, 'crash-state');
    const file = join(stateDir, 'egress.db');
    const store = new EgressStore(file);
    for (let n = 1; n <= 4; n++)
      store.outbox.enqueue({
        endpoint: 'api',
        method: 'POST',
        path: '/',
        contentType: 'text/plain',
        body: Buffer.from(`call${n}`),
      });
    const received: string[] = [];
    let child: ReturnType<typeof spawn> | undefined;
    const upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        // The second call arrives, and the drain dies before it hears back: its outcome is unknown.
        if (body === 'call2' && child?.pid) process.kill(child.pid, 'SIGKILL');
        else res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`;
    try {
      child = spawn(
        process.execPath,
        ['--import', 'tsx', join(root, 'test/fixtures/drain-once.ts'), file, 'step-1', url],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
      assert.equal(signal, 'SIGKILL', 'the first attempt died mid-drain');
      assert.deepEqual(received, ['call1', 'call2']);

      // The retry of the same step (same drain name) in a new process of Guardian.
      const retry = await drainOutbox(store.outbox, 'step-1', 100, (entry) => ({
        url,
        method: entry.method,
        headers: {},
        ...(entry.body ? { body: entry.body } : {}),
        timeoutMs: 2000,
      }));
      assert.deepEqual(received, ['call1', 'call2', 'call3', 'call4'], 'each call sent at most once');
      assert.deepEqual(
        { sent: retry.sent, failed: retry.failed, unknown: retry.unknown, pending: retry.pending },
        { sent: 3, failed: 0, unknown: 1, pending: 0 },
        'all four calls accounted for',
      );
      assert.deepEqual(
        store.outbox.list().map((e) => `${e.body?.toString()}:${e.state}`),
        ['call1:sent', 'call2:unknown', 'call3:sent', 'call4:sent'],
      );
      const counts = outboxReport(stateDir);
      assert.deepEqual(counts, { pending: 0, sending: 0, sent: 3, failed: 0, unknown: 1 });
      assert.match(
        renderOutbox(counts, stateDir),
        /^offline outbox: 0 queued, 3 sent, 0 refused, 1 unknown \(may have arrived/,
      );
    } finally {
      store.close();
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
