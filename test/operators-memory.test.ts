import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { clear } from '../cli/commands/clear.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { MemoryReliefBook } from '../lib/memory-relief.js';
import { listOverrides } from '../lib/overrides.js';
import { freePortRange } from '../lib/ports.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { outOfMemory, type OutOfMemoryParams } from '../workflows/out-of-memory.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { root, startTestGuardian, waitFor } from './helpers/lifecycle.js';
import { demoHealthy, writeOperatorsConfig } from './helpers/operators.js';
import { uniqueName } from './helpers/temporal.js';

const tmp = tempDir();
const MODEL = 'llama3.2:1b';
let config: GuardianConfig;
let runtime: GuardianRuntime;
let standin: ChildProcess;
let models: string;
let normalConcurrency: number;

before(async () => {
  const port = await freePortRange(1, 24500 + Math.floor(Math.random() * 400));
  models = `http://127.0.0.1:${port}`;
  standin = spawn(process.execPath, [join(root, 'examples/ollama-standin/serve.mjs')], {
    env: { ...process.env, OLLAMA_HOST: `127.0.0.1:${port}`, STANDIN_MODEL_MB: '16', STANDIN_LATENCY_MS: '1' },
    stdio: 'ignore',
  });
  await waitFor('the model server stand-in', () =>
    fetch(models).then(
      (r) => r.ok,
      () => false,
    ),
  );
  // An impossible system threshold (1 %) keeps memory short whatever is freed; the detector is
  // off, so the only incidents are the ones started below.
  ({ config } = await writeOperatorsConfig(tmp.dir, {
    memory: { systemPercent: 1, modelServer: models },
    remediate: { modes: { 'out-of-memory': 'off' } },
  }));
  runtime = await startTestGuardian(config);
  await demoHealthy(runtime);
  normalConcurrency = Number((await runtime.control!.health()).concurrency);
});
after(async () => {
  await runtime.stop();
  standin.kill();
  tmp.cleanup();
});

const loaded = async () =>
  ((await (await fetch(`${models}/api/ps`)).json()) as { models: { model: string }[] }).models.map((m) => m.model);

function startIncident(settleMs: number, rollbackWindowMs = 200) {
  const input: IncidentInput<OutOfMemoryParams> = {
    mode: 'out-of-memory',
    resource: 'grace',
    evidence: 'system memory 99% used (test)',
    detectedAt: Date.now(),
    host: config.host,
    settings: { rollbackWindowMs, flapLimit: 5, flapWindowMs: 600_000 },
    params: { service: true, concurrency: 2, disableFeatures: ['snapshots'], settleMs },
  };
  return runtime.client.workflow.start(outOfMemory, {
    taskQueue: config.taskQueue,
    workflowId: `out-of-memory:${config.host}:grace:${uniqueName('run')}`,
    args: [input],
  });
}

async function assertRelieved(): Promise<void> {
  const health = await runtime.control!.health();
  assert.equal(health.lowMemory, true);
  assert.deepEqual(health.disabledFeatures, ['snapshots']);
  assert.equal(health.concurrency, 2);
  assert.deepEqual(await loaded(), [], 'the model was unloaded');
}

async function assertAllBack(): Promise<void> {
  const health = await runtime.control!.health();
  assert.equal(health.lowMemory, false);
  assert.deepEqual(health.disabledFeatures, []);
  assert.equal(health.concurrency, normalConcurrency, 'the concurrency limit from before the incident');
  assert.deepEqual(await loaded(), [MODEL], 'the unloaded model is loaded again');
  assert.deepEqual(new MemoryReliefBook(runtime.ledger.db).list(), [], 'nothing left noted as in force');
}

describe('guardian clear out-of-memory', () => {
  it('restores everything a failed incident kept: low-memory mode, the features, the concurrency limit and the models', async () => {
    await fetch(`${models}/api/generate`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: '' }) });
    assert.deepEqual(await loaded(), [MODEL]);
    const handle = await startIncident(300);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed', result.summary);
    await assertRelieved();
    assert.deepEqual(
      new MemoryReliefBook(runtime.ledger.db)
        .list()
        .map((r) => r.kind)
        .sort(),
      ['concurrency', 'feature', 'low-memory-mode', 'models'],
    );
    const listed = await listOverrides(config);
    assert.deepEqual(
      listed.map((o) => o.kind).sort(),
      ['disabled-feature', 'limited-concurrency', 'low-memory-mode', 'unloaded-models'],
      'status lists each with its way out',
    );
    assert.ok(listed.every((o) => o.command === 'guardian clear out-of-memory grace'));

    const said = await captureStdout(() => clear('out-of-memory', 'grace', { config: config.file }));
    assert.match(said, /^Cleared out-of-memory on grace: /);
    assert.match(said, new RegExp(`concurrency limit back to ${normalConcurrency}`));
    assert.match(said, new RegExp(`models ${MODEL} loaded again`));
    await assertAllBack();
    assert.deepEqual(await listOverrides(config), []);
  });

  it('rolls the same changes back through the same undo, leaving nothing for clear', async () => {
    const handle = await startIncident(60_000);
    await waitFor('the verify step', async () =>
      (await handle.query(statusQuery)).steps.some((s) => s.name === 'verify' && s.state === 'running'),
    );
    await assertRelieved();
    await handle.signal(rollbackSignal, 'test');
    assert.equal(((await handle.result()) as IncidentResult).outcome, 'rolled-back');
    await sleep(50);
    await assertAllBack();
  });
});
