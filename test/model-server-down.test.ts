import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { IncidentRecord } from '../lib/ledger.js';
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

async function guardianWith(
  name: string,
  modelServer: Partial<NonNullable<LifecycleConfigOptions['modelServer']>> = {},
  incidents: LifecycleConfigOptions['incidents'] = { rollbackWindow: '1s', flap: { limit: 5, window: '10m' } },
): Promise<GuardianRuntime> {
  const config = lifecycleConfig(join(tmp.dir, name), {
    port: await freePorts(4),
    modelServer: { port: await freePorts(1), ...modelServer },
    incidents,
  });
  const runtime = await startTestGuardian(config);
  cleanups.push(() => runtime.stop());
  await waitFor(
    'the service to finish booting',
    async () => (await runtime.control?.health().catch(() => undefined))?.status === 'ok',
  );
  return runtime;
}

async function ask(
  runtime: GuardianRuntime,
  prompt: string,
): Promise<{ response: string; cached: boolean; fallback: boolean }> {
  const res = await fetch(`http://127.0.0.1:${runtime.service!.port}/ai/complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { response: string; cached: boolean; fallback: boolean };
}

const handleOf = (runtime: GuardianRuntime) =>
  runtime.client.workflow.getHandle(incidentWorkflowId('model-server-down', runtime.config.host, 'ollama'));

async function closedRecord(runtime: GuardianRuntime, since: number): Promise<IncidentRecord> {
  await waitForOutcome(runtime.ledger, 'model-server-down', since);
  const handle = handleOf(runtime);
  await handle.result().catch(() => undefined); // alerts follow the outcome
  const record = runtime.ledger.incident(handle.workflowId);
  assert.ok(record);
  return record;
}

describe('model-server-down', () => {
  it("restarts the model server killed by PID (the spec's `pkill ollama`), then switches AI answers back on", async () => {
    const runtime = await guardianWith('killed');
    const modelServer = runtime.modelServer!;
    const before = modelServer.supervisor.running;
    assert.ok(before, 'Guardian started the model server');
    assert.equal((await ask(runtime, 'hello there')).fallback, false, 'answers come from the model');
    const killedAt = Date.now();
    process.kill(before.pid, 'SIGKILL');
    const record = await closedRecord(runtime, killedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.match(record.evidence, /ollama exited \(signal SIGKILL\)/);
    assert.deepEqual(
      (record.steps as { name: string }[]).map((s) => s.name),
      ['degrade-ai', 'start-model-server', 'restore-ai', 'verify'],
    );
    const after = modelServer.supervisor.running;
    assert.ok(after && after.pid !== before.pid, 'a new model server process');
    assert.equal((await modelServer.probe()).ok, true);
    assert.deepEqual((await runtime.control!.health()).disabledFeatures, []);
    const answer = await ask(runtime, 'what is new?');
    assert.equal(answer.fallback, false);
    assert.match(answer.response, /stand-in model/);
    assert.match(
      record.alert ?? '',
      /model server ollama was down .* Guardian started it and served rule-based and cached AI answers meanwhile/,
    );
    const closed = handleOf(runtime);
    await closed.result(); // the whole history, rollback window included
    await recordHistory(closed, 'model-server-down-killed');
  });

  it('serves cached and rule-based answers while the model server starts, and rolls back to AI on', async () => {
    // A model server that takes 2 s to listen, as a real one loading its runtime does.
    const runtime = await guardianWith('slow-start', { env: { STANDIN_START_DELAY_MS: '2000' } });
    assert.equal((await ask(runtime, 'hello again')).fallback, false);
    const killedAt = Date.now();
    process.kill(runtime.modelServer!.supervisor.running!.pid, 'SIGKILL');
    const disabled = await waitFor(
      'AI switched off',
      async () => ((await runtime.control!.health()).disabledFeatures?.includes('ai') ? true : undefined),
      5000,
    );
    assert.ok(disabled);
    const cached = await ask(runtime, 'hello again');
    assert.deepEqual([cached.cached, cached.fallback], [true, false], 'a prompt answered before comes from the cache');
    const ruled = await ask(runtime, 'hello, anyone?');
    assert.equal(ruled.fallback, true, 'a new prompt gets the rule-based answer');
    const record = await waitForOutcome(runtime.ledger, 'model-server-down', killedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.ok(record.healedAt! - killedAt >= 2000, 'healed only once the server answered');
    assert.equal((await ask(runtime, 'hello, anyone?')).fallback, false);
    const handle = handleOf(runtime);
    const status = await handle.query(statusQuery);
    assert.ok(status.phase === 'rollback-window' || status.phase === 'closed');
  });

  it('fails with install instructions when the command is missing, and keeps AI answers rule-based', async () => {
    const startedAt = Date.now();
    const runtime = await guardianWith('missing', { command: join(tmp.dir, 'no-such-dir', 'ollama'), args: ['serve'] });
    assert.equal(runtime.modelServer!.supervisor.running, undefined);
    const record = await closedRecord(runtime, startedAt);
    assert.equal(record.outcome, 'failed', record.summary);
    assert.match(
      record.alert ?? '',
      /was not found\. Install Ollama: `curl -fsSL https:\/\/ollama\.com\/install\.sh \| sh`/,
    );
    assert.deepEqual(
      (await runtime.control!.health()).disabledFeatures,
      ['ai'],
      'AI stays off while there is no model server',
    );
    assert.equal((await ask(runtime, 'hello?')).fallback, true);
    await recordHistory(handleOf(runtime), 'model-server-down-missing-binary');
  });

  it('bounds restarts of a server that keeps dying: retries with backoff, then flap protection pauses it', async () => {
    const startedAt = Date.now();
    const runtime = await guardianWith(
      'crashing',
      { command: process.execPath, args: ['-e', 'process.exit(3)'], recheckAfter: '300ms', startTimeout: '3s' },
      { rollbackWindow: '1s', flap: { limit: 2, window: '10m' } },
    );
    const flapping = await waitFor(
      'the flap protection',
      () =>
        runtime.ledger
          .incidents({ mode: 'model-server-down' })
          .find((r) => r.outcome === 'flapping' && r.detectedAt >= startedAt),
      40_000,
    );
    const incidents = runtime.ledger
      .incidents({ mode: 'model-server-down' })
      .filter((r) => r.detectedAt >= startedAt)
      .reverse();
    assert.deepEqual(
      incidents.slice(0, 3).map((r) => r.outcome),
      ['failed', 'failed', 'flapping'],
    );
    assert.ok(runtime.ledger.pause('model-server-down', 'ollama'), 'auto-remediation of ollama is paused');
    // Each failed incident started it three times (two retries), with growing pauses between.
    const starts = runtime.registry.db
      .prepare("SELECT started_at FROM processes WHERE name = 'ollama' AND started_at >= ? ORDER BY id")
      .all(Math.floor(startedAt / 1000) * 1000 - 1000) as { started_at: number }[];
    const failedRuns = incidents.filter((r) => r.outcome === 'failed').length;
    assert.ok(
      starts.length >= 3 * failedRuns && starts.length <= 3 * failedRuns + 1,
      `${starts.length} starts for ${failedRuns} failed incidents`,
    );
    const attempts = starts.filter((s) => s.started_at >= incidents[0]!.detectedAt - 50).slice(0, 3);
    const gaps = attempts.slice(1).map((s, i) => s.started_at - attempts[i]!.started_at);
    assert.ok(gaps[0]! >= 900 && gaps[1]! >= 1900, `backoff between attempts: ${gaps.join(', ')} ms`);
    assert.ok(flapping.summary.includes('escalated and paused'));
  });

  it('switches AI back on after a rollback', async () => {
    const runtime = await guardianWith('rollback', {}, { rollbackWindow: '5m', flap: { limit: 5, window: '10m' } });
    const killedAt = Date.now();
    process.kill(runtime.modelServer!.supervisor.running!.pid, 'SIGKILL');
    const record = await waitForOutcome(runtime.ledger, 'model-server-down', killedAt);
    assert.equal(record.outcome, 'healed');
    await runtime.control!.call('feature', { name: 'ai', enabled: false }); // as if healed midway
    const handle = handleOf(runtime);
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.deepEqual((await runtime.control!.health()).disabledFeatures, [], 'AI features re-enabled');
    await recordHistory(handle, 'model-server-down-rolled-back');
  });
});
