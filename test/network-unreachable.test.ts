import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RemoteApi } from '../examples/remote-api/remote-api.mjs';
import type { GuardianConfig } from '../lib/config/load.js';
import type { IncidentRecord } from '../lib/ledger.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { type IncidentResult, statusQuery } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import {
  callThroughService,
  remoteApi,
  restartGuardian,
  startGuardedDemo,
  until,
  writeSecret,
} from './helpers/outside.js';

const tmp = tempDir();
const KEY = 'net-key-5be1d0';
let world: RemoteApi;
let runtime: GuardianRuntime;
let config: GuardianConfig;
let servicePort: number;
const logFile = join(tmp.dir, 'guardian.log');

before(async () => {
  world = await remoteApi({ dnsPort: 0, keys: [KEY] });
  ({ runtime, config, servicePort } = await startGuardedDemo(
    tmp.dir,
    {
      egress: { endpoints: [{ name: 'quotes', url: world.url, credential: 'quotes-key', timeouts: ['1s'] }] },
      credentials: [{ name: 'quotes-key', token: { file: writeSecret(tmp.dir, 'quotes.key', KEY) } }],
      network: {
        probes: {
          interval: '200ms',
          timeout: '200ms',
          failedRounds: 2,
          dns: { resolver: `127.0.0.1:${world.dnsPort}`, names: ['api.remote.test'] },
          tcp: [`127.0.0.1:${world.port}`],
        },
        backoff: ['300ms', '600ms', '1s'],
      },
    },
    logFile,
  ));
});
after(async () => {
  await runtime.stop();
  if (world.listening) await world.stop();
  tmp.cleanup();
});

const handleOf = (record: IncidentRecord) => runtime.client.workflow.getHandle(record.workflowId);
const incidentSince = (since: number, outcome?: string) => () =>
  runtime.ledger
    .incidents({ mode: 'network-unreachable', limit: 10 })
    .find((r) => r.detectedAt >= since && (outcome === undefined || r.outcome === outcome));
const post = (n: number) => callThroughService(servicePort, 'quotes', '/orders', { n });

describe('network-unreachable', () => {
  it('enters offline mode within 5 s of the outage: the service gets cached replies marked stale and its writes are queued; when the network is back it leaves offline mode and sends them in order, each once', async () => {
    world.set({ keys: [KEY] });
    const warm = await callThroughService(servicePort, 'quotes', '/news');
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
    const outage = Date.now();
    await world.stop();

    const record = await until(incidentSince(outage), 10_000);
    const handle = handleOf(record);
    const status = await until(async () => {
      const s = await handle.query(statusQuery);
      return s.healedAt !== undefined && s;
    }, 10_000);
    const toOffline = (status.healedAt ?? 0) - outage;
    console.log(`outage → offline mode verified: ${toOffline} ms (detected after ${record.detectedAt - outage} ms)`);
    assert.ok(toOffline < 5000, `offline within the spec's 5 s (took ${toOffline} ms)`);

    const cached = await callThroughService(servicePort, 'quotes', '/news');
    assert.equal(cached.status, 200);
    assert.match(cached.stale ?? '', /^offline/);
    const uncached = await callThroughService(servicePort, 'quotes', '/never-seen');
    assert.equal(uncached.status, 503);
    assert.equal(uncached.body.offline, true);
    assert.ok(uncached.ms < 500, 'refused fast');
    for (const n of [1, 2, 3]) assert.equal((await post(n)).status, 202);
    assert.equal((await runtime.control?.health())?.offline, true, 'the service was told');

    const receivedBefore = world.received.length;
    await world.start();
    const healed = await until(incidentSince(outage, 'healed'), 20_000);
    assert.match(healed.summary, /queued calls: 3 sent/);
    assert.deepEqual(
      world.received.slice(receivedBefore).map((r) => JSON.parse(r.body).n),
      [1, 2, 3],
    );
    assert.equal((await runtime.control?.health())?.offline, false);
    assert.equal(runtime.egress?.offline, false);
    assert.equal((await callThroughService(servicePort, 'quotes', '/news')).stale, null, 'normal traffic again');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'healed');
    await recordHistory(handle, 'network-unreachable-outage');
  });

  it('keeps offline mode and the queue across a Guardian restart while offline, and sends every queued write once the network is back', async () => {
    world.set({ keys: [KEY] });
    const outage = Date.now();
    await world.stop();
    const record = await until(incidentSince(outage), 10_000);
    await until(async () => (await handleOf(record).query(statusQuery)).healedAt !== undefined, 10_000);
    assert.equal((await post(10)).status, 202);
    assert.equal((await post(11)).status, 202);

    await runtime.stop();
    runtime = await restartGuardian(config, logFile);
    assert.equal(runtime.egress?.offline, true, 'offline mode came back from the store');
    assert.equal((await runtime.control?.health())?.offline, true, 'the restarted service started offline');
    assert.equal((await post(12)).status, 202, 'a write after the restart joins the queue');

    const receivedBefore = world.received.length;
    await world.start();
    const healed = await until(incidentSince(outage, 'healed'), 30_000);
    assert.match(healed.summary, /queued calls: 3 sent, 0 refused, 0 unknown, 0 still queued/);
    assert.deepEqual(
      world.received.slice(receivedBefore).map((r) => JSON.parse(r.body).n),
      [10, 11, 12],
    );
    assert.equal(runtime.egress?.offline, false);
    await handleOf(healed).result();
  });
});
