import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BootReport } from '../lib/guarded-service.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { type IncidentResult, incidentWorkflowId, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import {
  freePorts,
  type LifecycleConfigOptions,
  lifecycleConfig,
  startTestGuardian,
  waitFor,
  waitForOutcome,
} from './helpers/lifecycle.js';

const tmp = tempDir();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  tmp.cleanup();
});

/** Grace with one slow chunk, and the model server stand-in so a normal boot has no degraded chunk. */
async function guardianWith(
  name: string,
  slowChunk: string,
  boot: LifecycleConfigOptions['boot'] = {},
  rollbackWindow = '1s',
): Promise<GuardianRuntime> {
  const config = lifecycleConfig(join(tmp.dir, name), {
    port: await freePorts(4),
    env: { GRACE_SLOW_CHUNK: slowChunk },
    boot,
    modelServer: { port: await freePorts(1) },
    incidents: { rollbackWindow, flap: { limit: 5, window: '10m' } },
  });
  const runtime = await startTestGuardian(config);
  cleanups.push(() => runtime.stop());
  return runtime;
}

const bootOf = (runtime: GuardianRuntime) => runtime.service!.bootReport();
const chunkOf = (report: BootReport, name: string) => report.chunks.find((c) => c.name === name);
const handleOf = (runtime: GuardianRuntime, chunk: string) =>
  runtime.client.workflow.getHandle(incidentWorkflowId('slow-boot', runtime.config.host, chunk));

describe('slow-boot', () => {
  it("skips a chunk that sleeps 35 s once its budget (the default 10 s) runs out, and the service comes up healthy without it (the spec's scenario)", async () => {
    const startedAt = Date.now();
    const runtime = await guardianWith('spec', 'model-warmup:35000');
    const record = await waitForOutcome(runtime.ledger, 'slow-boot', startedAt, 30_000);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.equal(record.resource, 'model-warmup');
    const health = await runtime.control!.health();
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.degradedChunks, ['model-warmup']);
    const chunk = chunkOf(await bootOf(runtime), 'model-warmup');
    assert.equal(chunk?.state, 'skipped');
    assert.ok(chunk?.startedAt && record.healedAt, 'timings known');
    const overBudget = record.healedAt - (chunk.startedAt + 10_000);
    assert.ok(overBudget >= 0 && overBudget < 3000, `healed ${overBudget} ms after the budget ran out`);
    assert.match(record.summary, /model-warmup skipped \(degraded\) after running 1\d{4} ms \(budget 10000 ms\)/);
    assert.match(record.alert ?? '', /chunk model-warmup ran 1\d{4} ms \(budget 10000 ms\) and was skipped/);
    assert.deepEqual(
      runtime.registry.bootOverrides('grace').map((o) => [o.chunk, o.kind]),
      [['model-warmup', 'skip']],
    );
    const closed = handleOf(runtime, 'model-warmup');
    await closed.result(); // the whole history, rollback window included
    await recordHistory(closed, 'slow-boot-skipped');
  });

  it('defers a slow deferrable chunk to the background, keeps deferring it on later boots, and runs it again after rollback', async () => {
    const startedAt = Date.now();
    const runtime = await guardianWith('defer', 'plugins:35000', { chunks: { plugins: '1s' } }, '5m');
    const record = await waitForOutcome(runtime.ledger, 'slow-boot', startedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    const health = await runtime.control!.health();
    assert.equal(health.status, 'ok');
    assert.ok(
      (health.deferredChunks as string[]).includes('plugins') || chunkOf(await bootOf(runtime), 'plugins')?.background,
    );

    // A restart while the incident stands: the registry's defer list goes with the environment.
    const service = runtime.service!;
    await service.restartOn(service.port!);
    const report = await waitFor('the next boot', async () => {
      const r = await bootOf(runtime).catch(() => undefined);
      return r?.status === 'done' ? r : undefined;
    });
    assert.deepEqual(report.deferList, ['plugins']);
    assert.equal(runtime.ledger.incidents({ mode: 'slow-boot' }).length, 1, 'no new incident');

    const handle = handleOf(runtime, 'plugins');
    assert.equal((await handle.query(statusQuery)).phase, 'rollback-window');
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    assert.deepEqual(runtime.registry.bootOverrides('grace'), []);
    assert.deepEqual((await bootOf(runtime)).deferList, [], 'the running service was told too');
    service.setEnv({ GRACE_SLOW_CHUNK: 'plugins:0' }); // the slowness is fixed; the normal sequence runs it
    await service.restartOn(service.port!);
    const normal = await waitFor('a normal boot', async () => {
      const r = await bootOf(runtime).catch(() => undefined);
      return r?.status === 'done' ? r : undefined;
    });
    assert.equal(chunkOf(normal, 'plugins')?.state, 'done');
    assert.equal(chunkOf(normal, 'plugins')?.background, false);
    await recordHistory(handle, 'slow-boot-deferred-rolled-back');
  });

  it('never skips a slow critical chunk: the incident fails with an alert naming it, and boot finishes with it', async () => {
    const startedAt = Date.now();
    const runtime = await guardianWith('critical', 'databases:4000', { chunks: { databases: '500ms' } });
    await waitForOutcome(runtime.ledger, 'slow-boot', startedAt);
    const handle = handleOf(runtime, 'databases');
    await handle.result();
    const record = runtime.ledger.incident(handle.workflowId);
    assert.equal(record?.outcome, 'failed', record?.summary);
    assert.match(
      record?.alert ?? '',
      /boot chunk databases is critical and has run \d+ ms \(budget 500 ms\); Guardian never skips a critical chunk/,
    );
    const report = await waitFor('boot to finish', async () => {
      const r = await bootOf(runtime).catch(() => undefined);
      return r?.status === 'done' ? r : undefined;
    });
    assert.equal(chunkOf(report, 'databases')?.state, 'done');
    assert.deepEqual(runtime.registry.bootOverrides('grace'), []);
    await recordHistory(handle, 'slow-boot-critical-chunk');
  });

  it('treats a boot over its whole budget as slow even when the running chunk is inside its own budget', async () => {
    const startedAt = Date.now();
    const runtime = await guardianWith('boot-budget', 'cache-warmup:20000', {
      budget: '1500ms',
      chunks: { 'cache-warmup': '60s' },
      onSlow: 'skip',
    });
    const record = await waitForOutcome(runtime.ledger, 'slow-boot', startedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.equal(record.resource, 'cache-warmup');
    assert.match(record.evidence, /boot has run \d+ ms, over its 1500 ms budget; chunk cache-warmup is running/);
    assert.equal(
      chunkOf(await bootOf(runtime), 'cache-warmup')?.state,
      'skipped',
      'onSlow: skip skips even a deferrable chunk',
    );
  });
});
