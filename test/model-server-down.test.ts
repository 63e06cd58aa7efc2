import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { resume } from '../cli/commands/resume.js';
import { status } from '../cli/commands/status.js';
import type { IncidentRecord } from '../lib/ledger.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { type IncidentResult, incidentWorkflowId, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { captureStdout } from './helpers/capture.js';
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

const modelServerStarts = (runtime: GuardianRuntime, since: number) =>
  (
    runtime.registry.db
      .prepare("SELECT count(*) AS n FROM processes WHERE name = 'ollama' AND started_at >= ?")
      .get(since - 1000) as { n: number }
  ).n;

const incidentsSince = (runtime: GuardianRuntime, since: number) =>
  runtime.ledger.incidents({ mode: 'model-server-down' }).filter((r) => r.detectedAt >= since).length;

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
      ['degrade-ai', 'restart-budget', 'start-model-server', 'restore-ai', 'verify'],
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

  it('escalates a model server that keeps dying at its restart budget, keeps it held across a restart of Guardian, and resume lifts it', async () => {
    const config = lifecycleConfig(join(tmp.dir, 'crash-loop'), {
      port: await freePorts(4),
      modelServer: {
        port: await freePorts(1),
        // Up for 200 ms, never answering, then dead: a crash loop.
        command: process.execPath,
        args: ['-e', 'setTimeout(() => process.exit(3), 200)'],
        startTimeout: '3s',
        restart: { burst: 3, interval: '10m', backoff: '100ms', maxBackoff: '400ms' },
      },
    });
    const startedAt = Date.now();
    let runtime = await startTestGuardian(config);
    cleanups.push(runtime.stop.bind(runtime));
    const found = await waitFor(
      'the crash loop to be escalated',
      () => runtime.ledger.incidents({ mode: 'model-server-down' }).find((r) => r.outcome === 'escalated'),
      30_000,
    );
    const handle = runtime.client.workflow.getHandle(found.workflowId, found.runId);
    assert.equal((await handle.result()).outcome, 'escalated');
    const escalated = runtime.ledger.incident(found.workflowId)!; // with its alert
    const steps = (escalated.steps as { name: string; state: string }[]).map((s) => `${s.name}:${s.state}`);
    assert.deepEqual(steps.slice(-2), ['restart-budget (4):completed', 'hold-restarts:completed'], escalated.summary);
    assert.match(escalated.alert ?? '', /ollama is in a crash loop: 3 restarts within 600 s \(limit 3\)/);
    assert.match(escalated.alert ?? '', /Last exits: ollama exited \(code 3\) before its API answered/);
    assert.match(escalated.alert ?? '', /guardian resume model-server-down ollama/);
    assert.match(escalated.summary, /backed off 100 ms .*backed off 200 ms/);
    assert.equal(modelServerStarts(runtime, startedAt), 4, 'the first start and three restarts');
    assert.deepEqual((await runtime.control!.health()).disabledFeatures, ['ai'], 'AI stays off while it is held');
    await recordHistory(handle, 'model-server-down-crash-loop-escalated');
    await sleep(1500);
    assert.equal(runtime.modelServer!.supervisor.running, undefined, 'no restart after the escalation');
    assert.equal(modelServerStarts(runtime, startedAt), 4);
    assert.equal(incidentsSince(runtime, startedAt), 1, "the held server's findings start no incident");

    await runtime.stop();
    runtime = await startTestGuardian(config); // Guardian restarts: the hold is in supervision.db
    cleanups.push(runtime.stop.bind(runtime));
    await sleep(2000);
    assert.equal(runtime.modelServer!.supervisor.running, undefined, 'not started while held');
    assert.equal(modelServerStarts(runtime, startedAt), 4);
    assert.equal(incidentsSince(runtime, startedAt), 1);
    assert.ok(runtime.modelServer!.restarts.held('ollama'));

    const file = join(tmp.dir, 'crash-loop.yaml');
    const { name, command, port, restart } = config.service!;
    const { url, args, restart: modelRestart } = config.modelServer!;
    writeFileSync(
      file,
      stringify({
        host: config.host,
        stateDir: config.stateDir,
        service: { name, command, port, restart },
        modelServer: { name: 'ollama', url, command: config.modelServer!.command, args, restart: modelRestart },
      }),
    );
    const shown = await captureStdout(() => status({ config: file }));
    assert.match(shown, /restarts: grace restarted 0 time\(s\) in the last 600 s; 5 left/);
    assert.match(
      shown,
      /restarts: ollama escalated as a crash loop since \S+ \(3 restarts within 600 s \(limit 3\)\); no restart until: guardian resume model-server-down ollama/,
    );
    const resumedAt = Date.now();
    const resumed = await captureStdout(() => resume('model-server-down', 'ollama', { config: file }));
    assert.match(
      resumed,
      /Resumed auto-remediation of model-server-down on ollama \(it was escalated as a crash loop\)/,
    );
    assert.doesNotMatch(await captureStdout(() => status({ config: file })), /ollama escalated/);
    await waitFor('a start after the resume', () => modelServerStarts(runtime, resumedAt + 1000) > 0, 10_000);
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
