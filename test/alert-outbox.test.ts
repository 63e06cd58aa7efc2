import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAlertActivities } from '../activities/alerts.js';
import { AlertDeliverer } from '../lib/alert-deliverer.js';
import { Ledger } from '../lib/ledger.js';
import { createLogger } from '../lib/logger.js';
import type { IncidentInput, IncidentResult } from '../workflows/definitions.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';
import { createScriptActivities } from './fixtures/script-activities.js';
import type { ScriptParams } from './fixtures/workflows.js';

/** A loopback port nothing listens on (yet): connections to it are refused. */
async function refusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A webhook that records every POST body; answers `status()` (200 unless changed). */
async function webhookOn(
  port: number,
  status: () => number = () => 200,
): Promise<{ server: Server; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, bodies };
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

const tmp = tempDir();
let port: number;
let worker: TestWorker;
let deliverer: AlertDeliverer;
let config: ReturnType<typeof testConfig>;

before(async () => {
  port = await refusedPort();
  config = testConfig(tmp.dir, { alerts: { webhook: `http://127.0.0.1:${port}/hook` } });
  const journal = join(tmp.dir, 'journal.log');
  writeFileSync(journal, '');
  worker = await startTestWorker(config, { extraActivities: createScriptActivities(journal) });
  deliverer = new AlertDeliverer(worker.ledger.alerts, config.alerts.webhook, createLogger('alert-test'), {
    intervalMs: 100,
    firstBackoffMs: 100,
    maxBackoffMs: 400,
  });
  deliverer.start();
});
after(async () => {
  await deliverer.stop();
  await worker.stop();
  tmp.cleanup();
});

describe('alert outbox', () => {
  it('heals while the webhook refuses, and delivers the alert once when the webhook comes back', async () => {
    const r = uniqueName('alert');
    const input: IncidentInput<ScriptParams> = {
      mode: 'database-corruption',
      resource: r,
      evidence: 'scripted',
      detectedAt: Date.now(),
      host: config.host,
      settings: { rollbackWindowMs: 10, flapLimit: 5, flapWindowMs: 600_000 },
      params: { steps: [{ name: `${r}-a`, durationMs: 10 }], alert: `review ${r}` },
    };
    const handle = await worker.client.workflow.start('scriptedIncident', {
      taskQueue: config.taskQueue,
      workflowId: `database-corruption:${config.host}:${r}`,
      args: [input],
    });
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'healed', result.summary);

    const [alert] = worker.ledger.alerts.latest().filter((a) => a.message === `review ${r}`);
    assert.ok(alert, 'the alert is in the outbox');
    for (let i = 0; i < 50 && (worker.ledger.alerts.get(alert.key)?.attempts ?? 0) < 2; i++) await sleep(50);
    const failing = worker.ledger.alerts.get(alert.key);
    assert.equal(failing?.state, 'pending');
    assert.ok((failing?.attempts ?? 0) >= 2, 'failed deliveries are recorded and retried');
    assert.equal(failing?.lastError, 'ECONNREFUSED');
    assert.match(
      readFileSync(config.alerts.file ?? '', 'utf8'),
      new RegExp(`review ${r}`),
      'the alert log has it at once',
    );

    const webhook = await webhookOn(port);
    try {
      for (let i = 0; i < 100 && worker.ledger.alerts.get(alert.key)?.state !== 'delivered'; i++) await sleep(50);
      assert.equal(worker.ledger.alerts.get(alert.key)?.state, 'delivered');
      await sleep(600); // several more delivery passes: none may send it again
      const received = webhook.bodies.map((b) => JSON.parse(b) as { id: string; message: string });
      assert.deepEqual(
        received.filter((b) => b.message === `review ${r}`).map((b) => b.id),
        [alert.key],
      );
    } finally {
      await close(webhook.server);
    }
  });

  it('adds nothing when the same alert is enqueued again (a retried activity)', async () => {
    const dir = tempDir();
    const ledger = new Ledger(join(dir.dir, 'ledger.db'));
    const file = join(dir.dir, 'alerts.log');
    try {
      const own = testConfig(dir.dir, { alerts: { file, webhook: 'http://127.0.0.1:9/never' } });
      const { sendAlert } = createAlertActivities({ ledger, logger: createLogger('alert-test'), config: own });
      const alert = { key: 'wf/run/alert-1', severity: 'critical', message: 'disk almost full' } as const;
      await sendAlert(alert);
      await sendAlert(alert);
      assert.equal(ledger.alerts.latest().length, 1);
      assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1);
    } finally {
      ledger.close();
      dir.cleanup();
    }
  });

  it('keeps an alert the webhook answers 500 to, and delivers it once the webhook answers 200', async () => {
    const dir = tempDir();
    const ledger = new Ledger(join(dir.dir, 'ledger.db'));
    let answer = 500;
    const webhook = await webhookOn(0, () => answer);
    const url = `http://127.0.0.1:${(webhook.server.address() as AddressInfo).port}/`;
    const own = new AlertDeliverer(ledger.alerts, url, createLogger('alert-test'), { firstBackoffMs: 0 });
    try {
      ledger.alerts.enqueue({ key: 'k1', at: Date.now(), severity: 'warning', message: 'first' }, true);
      assert.deepEqual(await own.deliverDue(), { delivered: 0, failed: 1, abandoned: 0 });
      assert.equal(ledger.alerts.get('k1')?.lastError, 'the webhook answered 500');
      answer = 200;
      assert.deepEqual(await own.deliverDue(), { delivered: 1, failed: 0, abandoned: 0 });
      assert.deepEqual(await own.deliverDue(), { delivered: 0, failed: 0, abandoned: 0 });
      assert.equal(webhook.bodies.length, 2);
    } finally {
      await close(webhook.server);
      ledger.close();
      dir.cleanup();
    }
  });
});
