import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryActivities } from '../activities/memory.js';
import type { IncidentRecord } from '../lib/ledger.js';
import { rssOf } from '../lib/memory.js';
import { freePortRange } from '../lib/ports.js';
import { ServiceControl } from '../lib/service-control.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import type { OutOfMemoryParams } from '../workflows/out-of-memory.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { uniqueName, workflowBundle } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = tempDir();
const LIMIT = 200 * 1048576;
const token = `test-${uniqueName('token')}`;
let runtime: GuardianRuntime;
let base: string;
let control: ServiceControl;
// An impossible system threshold (1 %) drives the remediation to its last resort.
const shortConfig = testConfig(tmp.dir, { memory: { systemPercent: 1 } });
let shortWorker: TestWorker;

before(async () => {
  const port = await freePortRange(5, 23000 + Math.floor(Math.random() * 50) * 20);
  const home = join(tmp.dir, 'grace');
  base = `http://127.0.0.1:${port}`;
  // The test's own worker first: it installs the SDK runtime the Guardian below then shares.
  process.env.GUARDIAN_CONTROL_TOKEN = token;
  control = new ServiceControl({ port: () => port, token });
  shortWorker = await startTestWorker(shortConfig, { control });
  const config = testConfig(tmp.dir, {
    service: {
      name: 'grace',
      command: process.execPath,
      // --expose-gc: release-memory can then collect at once (docs/contract.md).
      args: ['--expose-gc', join(root, 'examples/grace/server.mjs')],
      env: { GRACE_HOME: home, GRACE_LOG_STDOUT: 'false' },
      port: { preferred: port, range: [port, port + 4] },
      log: join(home, 'logs/grace.log'),
    },
    // A threshold set low for the test: the demo idles near 70 MB; 300 MB allocated crosses it.
    memory: { rss: LIMIT, interval: '100ms', settle: '3s' },
    incidents: { rollbackWindow: '500ms', flap: { limit: 50, window: '10m' } },
  });
  runtime = await startGuardian({
    config,
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
  for (let i = 0; i < 100; i++) {
    if ((await runtime.control?.health().catch(() => undefined))?.status === 'ok') break;
    await sleep(100);
  }
});
after(async () => {
  await shortWorker.stop();
  await runtime.stop();
  tmp.cleanup();
});

const stepNames = (record: IncidentRecord | undefined): string[] =>
  ((record?.steps ?? []) as { name: string }[]).map((s) => s.name);

async function allocate(mb: number): Promise<Response> {
  return fetch(`${base}/debug/allocate`, { method: 'POST', body: JSON.stringify({ mb }) });
}

async function outcomeSince(since: number): Promise<IncidentRecord | undefined> {
  for (let i = 0; i < 600; i++) {
    const found = runtime.ledger
      .incidents({ mode: 'out-of-memory' })
      .find((r) => r.detectedAt >= since && r.outcome !== 'healing');
    if (found) return found;
    await sleep(50);
  }
  return undefined;
}

describe('out-of-memory against the demo service', () => {
  it('brings the service back under its RSS limit after it really allocates past it', async () => {
    const pid = runtime.supervisor?.running?.pid ?? 0;
    const since = Date.now();
    const res = await allocate(300);
    assert.equal(res.status, 200);
    assert.ok((rssOf(pid) ?? 0) > LIMIT, 'the allocation is real: RSS is over the limit');
    const record = await outcomeSince(since);
    assert.equal(record?.outcome, 'healed', record?.summary);
    assert.match(record?.evidence ?? '', /RSS/);
    assert.ok((rssOf(pid) ?? Infinity) < LIMIT, 'RSS is back under the limit');
    assert.ok(stepNames(record).includes('clear-caches'));
    assert.ok(!stepNames(record).includes('low-memory-mode'), 'stopped as soon as memory was healthy');
    await sleep(600); // the rollback window closes
    await recordHistory(runtime.client.workflow.getHandle(record?.workflowId ?? ''), 'out-of-memory-rss');
  });

  it("opens no incident on the service's own MemoryError log line while measured memory is fine", async () => {
    const since = Date.now();
    const res = await allocate(5000); // over the demo's 4096 MB budget: refused with memory.error
    assert.equal(res.status, 507);
    await sleep(1500); // the detector has read the line and measured
    const opened = runtime.ledger.incidents({ mode: 'out-of-memory' }).filter((r) => r.detectedAt >= since);
    assert.deepEqual(
      opened.map((r) => r.evidence),
      [],
      'a log line is a claim: memory under every threshold does not confirm it',
    );
  });
});

describe('out-of-memory when freeing caches is not enough', () => {
  const config = shortConfig;

  const start = (settleMs: number, rollbackWindowMs = 200) => {
    const input: IncidentInput<OutOfMemoryParams> = {
      mode: 'out-of-memory',
      resource: 'grace',
      evidence: 'system memory 99% used (test)',
      detectedAt: Date.now(),
      host: config.host,
      settings: { rollbackWindowMs, flapLimit: 5, flapWindowMs: 600_000 },
      params: { service: true, concurrency: 2, disableFeatures: ['snapshots'], settleMs },
    };
    return shortWorker.client.workflow.start('outOfMemory', {
      taskQueue: config.taskQueue,
      workflowId: `out-of-memory:${config.host}:grace:${uniqueName('run')}`,
      args: [input],
    });
  };

  it('enters low-memory mode, switches non-essential features off, alerts, and keeps them on when memory stays short', async () => {
    const handle = await start(300);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed', result.summary);
    assert.deepEqual(
      result.steps.map((s) => s.name),
      [
        'measure',
        'clear-caches',
        'collect-garbage',
        'limit-concurrency',
        'flush-logs',
        'unload-models',
        'low-memory-mode',
        'disable-snapshots',
        'verify',
      ],
    );
    const health = await control.health();
    assert.equal(health.lowMemory, true, 'low-memory mode stays on after the failure');
    assert.deepEqual(health.disabledFeatures, ['snapshots']);
    assert.equal(health.concurrency, 2);
    assert.match(shortWorker.ledger.incident(handle.workflowId)?.alert ?? '', /could not heal|still short/);
    await recordHistory(handle, 'out-of-memory-still-short');
    // Put the demo back for the next test.
    await control.call('low-memory-mode', { enabled: false });
    await control.call('feature', { name: 'snapshots', enabled: true });
    await control.call('set-concurrency', { limit: 8 });
  });

  it('rolls low-memory mode, the features and the concurrency limit back when the operator asks', async () => {
    const handle = await start(60_000);
    for (let i = 0; i < 400; i++) {
      const status = await handle.query(statusQuery);
      if (status.steps.some((s) => s.name === 'verify' && s.state === 'running')) break;
      await sleep(25);
    }
    assert.equal((await control.health()).lowMemory, true);
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    const health = await control.health();
    assert.equal(health.lowMemory, false);
    assert.deepEqual(health.disabledFeatures, []);
    assert.equal(health.concurrency, 8);
    await recordHistory(handle, 'out-of-memory-low-memory-rolled-back');
  });
});

describe('unloading models from the model server', () => {
  let standin: ChildProcess;
  let url: string;
  before(async () => {
    const port = await freePortRange(1, 24500 + Math.floor(Math.random() * 400));
    url = `http://127.0.0.1:${port}`;
    standin = spawn(process.execPath, [join(root, 'examples/ollama-standin/serve.mjs')], {
      env: { ...process.env, OLLAMA_HOST: `127.0.0.1:${port}`, STANDIN_MODEL_MB: '64', STANDIN_LATENCY_MS: '1' },
      stdio: 'ignore',
    });
    for (
      let i = 0;
      i < 100 &&
      !(await fetch(url).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    )
      await sleep(50);
  });
  after(() => {
    standin.kill();
  });

  it('unloads every loaded model through the Ollama API, and loads them again on rollback', async () => {
    await fetch(`${url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2:1b', prompt: '' }) });
    const loaded = async () =>
      ((await (await fetch(`${url}/api/ps`)).json()) as { models: { model: string }[] }).models.map((m) => m.model);
    assert.deepEqual(await loaded(), ['llama3.2:1b']);
    const config = testConfig(tmp.dir, { memory: { modelServer: url } });
    const activities = createMemoryActivities({ config });
    const result = await activities.unloadModels({ settleMs: 0 });
    assert.deepEqual(result.models, ['llama3.2:1b']);
    assert.deepEqual(await loaded(), []);
    await activities.reloadModels({ models: result.models });
    assert.deepEqual(await loaded(), ['llama3.2:1b']);
  });
});
