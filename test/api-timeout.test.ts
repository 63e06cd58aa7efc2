import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RemoteApi } from '../examples/remote-api/remote-api.mjs';
import type { IncidentRecord } from '../lib/ledger.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { credentialsUpdatedSignal } from '../workflows/credential-watch.js';
import { type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { callThroughService, remoteApi, startGuardedDemo, until, writeSecret } from './helpers/outside.js';

const tmp = tempDir();
const KEY = 'api-key-c41a9e';
let quotes: RemoteApi;
let quotesBackup: RemoteApi;
let weather: RemoteApi;
let runtime: GuardianRuntime;
let servicePort: number;

/** The spec's slow endpoint: it sleeps 35 s; the timeouts are shortened so the test takes seconds. */
const SPEC_DELAY_MS = 35_000;

before(async () => {
  quotes = await remoteApi({ keys: [KEY] });
  quotesBackup = await remoteApi({ keys: [KEY], role: 'backup' });
  weather = await remoteApi({ keys: [KEY] });
  const keyFile = writeSecret(tmp.dir, 'api.key', KEY);
  ({ runtime, servicePort } = await startGuardedDemo(
    tmp.dir,
    {
      egress: {
        endpoints: [
          {
            name: 'quotes',
            url: quotes.url,
            backup: quotesBackup.url,
            credential: 'api-key',
            timeouts: ['400ms', '300ms', '200ms'],
            retryInterval: '300ms',
            probePath: '/health',
          },
          {
            name: 'weather',
            url: weather.url,
            credential: 'api-key',
            timeouts: ['400ms', '300ms', '200ms'],
            retryInterval: '300ms',
            probePath: '/health',
          },
        ],
      },
      credentials: [{ name: 'api-key', token: { file: keyFile } }],
    },
    join(tmp.dir, 'guardian.log'),
  ));
});
after(async () => {
  await runtime.stop();
  for (const api of [quotes, quotesBackup, weather]) await api.stop();
  tmp.cleanup();
});

const incident = (mode: string, endpoint: string, since: number, outcome?: string) => () =>
  runtime.ledger
    .incidents({ mode, limit: 20 })
    .find((r) => r.resource === endpoint && r.detectedAt >= since && (outcome === undefined || r.outcome === outcome));
const handleOf = (record: IncidentRecord) => runtime.client.workflow.getHandle(record.workflowId);

/** Three calls through the service, each over the timeout; returns when the third failed. */
async function threeTimeouts(endpoint: string): Promise<number> {
  for (let i = 0; i < 3; i++) {
    const reply = await callThroughService(servicePort, endpoint, '/slow');
    assert.equal(reply.status, 504, JSON.stringify(reply.body));
  }
  return Date.now();
}

async function openedWithin(record: IncidentRecord, since: number): Promise<number> {
  const status = await until(async () => {
    const s = await handleOf(record).query(statusQuery);
    return s.healedAt !== undefined && s;
  }, 10_000);
  return (status.healedAt ?? 0) - since;
}

describe('api-timeout', () => {
  it("opens the circuit after three calls to the spec's 35 s endpoint time out, sends traffic to the backup, and closes it with the normal timeout when the primary recovers", async () => {
    assert.equal((await callThroughService(servicePort, 'quotes', '/quote')).body.role, 'primary');
    quotes.set({ delayMs: SPEC_DELAY_MS });
    const started = Date.now();
    const third = await threeTimeouts('quotes');
    const record = await until(incident('api-timeout', 'quotes', started), 5000);
    const openMs = await openedWithin(record, third);
    console.log(`third failure → circuit open and verified: ${openMs} ms`);
    assert.ok(openMs < 15_000, `open within the spec's 15 s (took ${openMs} ms)`);
    assert.equal(runtime.egress?.route('quotes').circuit !== 'closed', true);
    assert.equal(runtime.egress?.route('quotes').timeoutMs, 300, 'timeout reduced while it misbehaves');

    const viaBackup = await callThroughService(servicePort, 'quotes', '/quote');
    assert.equal(viaBackup.status, 200);
    assert.equal(viaBackup.body.role, 'backup', 'the backup gets the traffic');
    assert.ok(viaBackup.ms < 1000);
    assert.ok(runtime.ledger.incident(record.workflowId)?.alert, 'alerted');

    quotes.set({ delayMs: 0 });
    const healed = await until(incident('api-timeout', 'quotes', started, 'healed'), 10_000);
    assert.match(healed.summary, /circuit closed, timeout back to 400 ms/);
    assert.equal(runtime.egress?.route('quotes').circuit, 'closed');
    assert.equal(runtime.egress?.route('quotes').timeoutMs, 400);
    assert.equal(
      (await callThroughService(servicePort, 'quotes', '/quote')).body.role,
      'primary',
      'the primary is back in use',
    );
    await handleOf(healed).result();
    await recordHistory(handleOf(healed), 'api-timeout-backup');
  });

  it('without a backup, serves the last good reply marked stale, shortens the trial timeout while the primary keeps failing, and closes when it recovers', async () => {
    const warm = await callThroughService(servicePort, 'weather', '/forecast');
    assert.equal(warm.status, 200);
    weather.set({ delayMs: SPEC_DELAY_MS });
    const started = Date.now();
    await threeTimeouts('weather');
    const record = await until(incident('api-timeout', 'weather', started), 5000);
    await openedWithin(record, started);

    const stale = await callThroughService(servicePort, 'weather', '/forecast');
    assert.equal(stale.status, 200);
    assert.match(stale.stale ?? '', /^circuit-open; age=\d+ms$/, 'marked stale');
    assert.equal(stale.body.path, '/forecast');
    assert.equal((await callThroughService(servicePort, 'weather', '/never-cached')).body.circuitOpen, true);

    await until(() => runtime.egress?.route('weather').timeoutMs === 200, 5000);
    weather.set({ delayMs: 0 });
    const healed = await until(incident('api-timeout', 'weather', started, 'healed'), 10_000);
    assert.equal(runtime.egress?.route('weather').timeoutMs, 400);
    assert.equal((await callThroughService(servicePort, 'weather', '/forecast')).stale, null);
    await handleOf(healed).result();
    await recordHistory(handleOf(healed), 'api-timeout-stale');
  });

  it('closes the circuit and restores the normal timeout on rollback', async () => {
    quotes.set({ delayMs: SPEC_DELAY_MS });
    const started = Date.now();
    await threeTimeouts('quotes');
    const record = await until(incident('api-timeout', 'quotes', started), 5000);
    await openedWithin(record, started);
    await handleOf(record).signal(rollbackSignal, 'test');
    const result = (await handleOf(record).result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(runtime.egress?.route('quotes').circuit, 'closed');
    assert.equal(runtime.egress?.route('quotes').timeoutMs, 400);
    quotes.set({ delayMs: 0 });
    await recordHistory(handleOf(record), 'api-timeout-rolled-back');
  });

  it('does not trip the breaker on 401/403: those are an invalid-credentials incident', async () => {
    quotes.set({ delayMs: 0, keys: ['someone-else'] });
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const reply = await callThroughService(servicePort, 'quotes', '/quote');
      // Refused, or — once invalid-credentials disabled the endpoint — the cached reply marked stale.
      assert.ok(
        reply.status === 401 || (reply.status === 200 && reply.stale?.startsWith('auth-required')),
        `${reply.status} ${reply.stale}`,
      );
    }
    const credentials = await until(incident('invalid-credentials', 'quotes', started), 5000);
    await sleep(500);
    assert.equal(incident('api-timeout', 'quotes', started)(), undefined, 'no api-timeout incident');
    assert.equal(runtime.egress?.route('quotes').circuit, 'closed');
    assert.equal(runtime.egress?.route('quotes').consecutiveFailures, 0);
    // The key is accepted again; the person says so.
    quotes.set({ keys: [KEY] });
    await until(
      async () =>
        (await handleOf(credentials).query(statusQuery)).steps.some((s) => s.name === 'await-valid-credentials'),
      5000,
    );
    await handleOf(credentials).signal(credentialsUpdatedSignal);
    const healed = await until(incident('invalid-credentials', 'quotes', started, 'healed'), 10_000);
    assert.equal(runtime.egress?.route('quotes').disabled, false);
    await handleOf(healed).result();
  });
});
