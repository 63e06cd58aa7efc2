import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { drill } from '../cli/commands/drill.js';
import { drills } from '../drills/index.js';
import { type GuardianConfig, loadConfig } from '../lib/config/load.js';
import { acquireStateDirLock } from '../lib/pid-lock.js';
import { processInfo } from '../lib/proc.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { incidentWorkflowId } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { freePorts, graceService, root, startTestGuardian, waitFor } from './helpers/lifecycle.js';
import { uniqueName } from './helpers/temporal.js';

const tmp = tempDir();
const host = uniqueName('drill-attached');
const file = join(tmp.dir, 'guardian.yaml');
let config: GuardianConfig;
let runtime: GuardianRuntime;
let release: () => void;

before(async () => {
  // The demo's home inside the state directory: an attached drill refuses to touch anything outside it.
  const home = join(tmp.dir, 'state', 'grace');
  const port = await freePorts(5);
  writeFileSync(
    file,
    stringify({
      host,
      taskQueue: `guardian@${host}`,
      stateDir: join(tmp.dir, 'state'),
      incidents: { rollbackWindow: '1s', flap: { limit: 5, window: '10m' } },
      metrics: { port: 0 },
      memory: { rss: '200MB', interval: '100ms' },
      service: {
        ...graceService(home, port),
        // As the demo's guardian.yaml: release-memory collects at once.
        args: ['--expose-gc', join(root, 'examples/grace/server.mjs')],
        liveness: { period: '250ms', timeout: '250ms', threshold: 3 },
      },
      modelServer: {
        name: 'ollama',
        url: `http://127.0.0.1:${port + 4}`,
        command: process.execPath,
        args: [join(root, 'examples/ollama-standin/serve.mjs')],
        env: { STANDIN_LATENCY_MS: '1' },
        startTimeout: '10s',
      },
    }),
  );
  config = loadConfig(file);
  mkdirSync(config.stateDir, { recursive: true });
  release = acquireStateDirLock(config.stateDir); // as `guardian up` does
  runtime = await startTestGuardian(config);
  await waitFor(
    'the service to boot',
    async () => (await runtime.control?.health().catch(() => undefined))?.status === 'ok',
  );
});
after(async () => {
  await runtime.stop();
  release();
  tmp.cleanup();
});

/** Runs `guardian drill <mode> --json` and returns its summary (text only: the test runner's bytes go on). */
async function drillJson(mode: string, repeat: number): Promise<{ modes: { mode: string; healed: number }[] }> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await drill([mode], { config: file, repeat: String(repeat), json: true });
  } finally {
    process.stdout.write = write;
  }
  return JSON.parse(out) as { modes: { mode: string; healed: number }[] };
}

/** The distinct workflow IDs Temporal lists for `mode` under this test's host (visibility is eventually consistent). */
async function listed(mode: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 40 && ids.length === 0; i++) {
    const query = `GuardianHost = "${host}" AND GuardianMode = "${mode}"`;
    for await (const wf of runtime.client.workflow.list({ query })) ids.push(wf.workflowId);
    if (ids.length === 0) await sleep(250);
  }
  return [...new Set(ids)];
}

describe('guardian drill on a running Guardian: service-down, model-server-down and out-of-memory attach', () => {
  it('kills the service process its registry names; the incidents open under its host, its restart budget kept', async () => {
    const first = runtime.registry.latestRunning('grace');
    assert.ok(first);
    runtime.service!.restarts.record('grace', 'earlier', 'an earlier crash (test)');
    const since = Date.now();

    const report = await drillJson('service-down', 2);
    assert.deepEqual(
      report.modes.map((m) => [m.mode, m.healed]),
      [['service-down', 2]],
    );
    const records = runtime.ledger.incidents({ mode: 'service-down' }).filter((r) => r.detectedAt >= since);
    assert.equal(records.length, 2, JSON.stringify(records.map((r) => r.summary)));
    assert.ok(records.every((r) => r.host === host && r.outcome === 'healed' && r.resource === 'grace'));
    assert.deepEqual(records.map((r) => r.evidence).sort(), ['grace exited (code 1)', 'grace exited (signal SIGKILL)']);
    assert.equal(processInfo(first.pid), undefined, 'the process the registry named was the one brought down');
    assert.ok(
      runtime.service!.restarts.recentCauses('grace', 10).includes('an earlier crash (test)'),
      "the running Guardian's restart budget was not reset",
    );
    assert.deepEqual(await listed('service-down'), [incidentWorkflowId('service-down', host, 'grace')]);
  });

  it('signals the model server its registry names, and that Guardian brings it back', async () => {
    const first = await waitFor('the Guardian to start the model server', () =>
      runtime.registry.latestRunning('ollama'),
    );
    const since = Date.now();
    const report = await drillJson('model-server-down', 1);
    assert.deepEqual(
      report.modes.map((m) => [m.mode, m.healed]),
      [['model-server-down', 1]],
    );
    const record = runtime.ledger.incidents({ mode: 'model-server-down' }).find((r) => r.detectedAt >= since);
    assert.equal(record?.host, host);
    assert.equal(record?.outcome, 'healed', record?.summary);
    assert.notEqual(runtime.registry.latestRunning('ollama')?.pid, first.pid, 'a new model server process');
    assert.deepEqual(await listed('model-server-down'), [incidentWorkflowId('model-server-down', host, 'ollama')]);
  });

  it("allocates past the running Guardian's own memory.rss, and that Guardian frees it", async () => {
    const since = Date.now();
    const report = await drillJson('out-of-memory', 2);
    assert.deepEqual(
      report.modes.map((m) => [m.mode, m.healed]),
      [['out-of-memory', 2]],
    );
    const records = runtime.ledger.incidents({ mode: 'out-of-memory' }).filter((r) => r.detectedAt >= since);
    assert.equal(records.length, 2, JSON.stringify(records.map((r) => r.summary)));
    assert.ok(records.every((r) => r.host === host && r.outcome === 'healed' && r.resource === 'grace'));
    const health = await runtime.control!.health();
    assert.ok((health.rssBytes ?? Infinity) < 200 * 1048576, `rss after the drill: ${health.rssBytes}`);
    assert.deepEqual(await listed('out-of-memory'), [incidentWorkflowId('out-of-memory', host, 'grace')]);
  });

  it("runs out-of-memory in an isolated Guardian when the running one's memory.rss is more than it may hold", () => {
    const reason = drills['out-of-memory'].attachRefusal?.({ ...config, memory: { ...config.memory, rss: 2 ** 50 } });
    assert.match(reason ?? '', /memory\.rss \(\d+ MB in .*guardian\.yaml\) would have the drill hold \d+ MB/);
    assert.equal(drills['out-of-memory'].attachRefusal?.(config), undefined);
  });
});
