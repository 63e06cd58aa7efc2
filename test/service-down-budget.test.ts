import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { resume } from '../cli/commands/resume.js';
import { status } from '../cli/commands/status.js';
import { processInfo } from '../lib/proc.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { freePorts, lifecycleConfig, root, startTestGuardian, waitFor } from './helpers/lifecycle.js';
import { workflowBundle } from './helpers/temporal.js';

const tmp = tempDir();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  tmp.cleanup();
});

const starts = (runtime: GuardianRuntime, since: number) =>
  (
    runtime.registry.db
      .prepare("SELECT count(*) AS n FROM processes WHERE name = 'grace' AND started_at >= ?")
      .get(since - 1000) as { n: number }
  ).n;

describe('service-down restart budget', () => {
  it('escalates a crash loop at the start limit and keeps it escalated across a restart of Guardian', async () => {
    const config = lifecycleConfig(join(tmp.dir, 'loop'), {
      port: await freePorts(4),
      service: {
        // Up for 300 ms, never ready, then dead: a crash loop.
        command: process.execPath,
        args: ['-e', 'setTimeout(() => process.exit(3), 300)'],
        restart: { burst: 3, interval: '10m', backoff: '100ms', maxBackoff: '400ms' },
      },
    });
    const startedAt = Date.now();
    let runtime = await startTestGuardian(config);
    const first = runtime;
    cleanups.push(() => first.stop());
    const found = await waitFor(
      'the crash loop to be escalated',
      () => runtime.ledger.incidents({ mode: 'service-down' }).find((r) => r.outcome === 'escalated'),
      30_000,
    );
    const handle = runtime.client.workflow.getHandle(found.workflowId, found.runId);
    assert.equal((await handle.result()).outcome, 'escalated');
    const escalated = runtime.ledger.incident(found.workflowId)!; // with its alert
    assert.equal(escalated.decision, 'heal');
    const steps = (escalated.steps as { name: string; state: string }[]).map((s) => `${s.name}:${s.state}`);
    const history = runtime.ledger
      .incidents({ mode: 'service-down' })
      .map((r) => `${r.outcome}: ${r.summary} [${(r.steps as { name: string }[]).map((s) => s.name).join(', ')}]`);
    assert.deepEqual(steps.slice(-2), ['restart-budget (4):completed', 'hold-restarts:completed'], history.join('\n'));
    assert.match(escalated.alert ?? '', /grace is in a crash loop: 3 restarts within 600 s \(limit 3\)/);
    assert.match(escalated.alert ?? '', /Last exits: .*code 3/);
    assert.match(escalated.alert ?? '', /guardian resume service-down grace/);
    assert.match(escalated.summary, /backed off 100 ms .*backed off 200 ms/);
    assert.equal(starts(runtime, startedAt), 4, 'the first start and three restarts');
    await recordHistory(handle, 'service-down-crash-loop-escalated');
    await sleep(1500);
    assert.equal(runtime.service!.supervisor.running, undefined, 'no restart after the escalation');
    assert.equal(starts(runtime, startedAt), 4);

    await runtime.stop();
    runtime = await startTestGuardian(config); // Guardian restarts: the hold is in supervision.db
    const second = runtime;
    cleanups.push(() => second.stop());
    await sleep(2000);
    assert.equal(runtime.service!.supervisor.running, undefined, 'not started while held');
    assert.equal(starts(runtime, startedAt), 4);
    assert.ok(runtime.service!.restarts.held('grace'));
    const budget = runtime.service!.restarts.status('grace', runtime.service!.restartLimits);
    assert.equal(budget.remaining, 0);

    const file = join(tmp.dir, 'loop.yaml');
    const { name, command, port, restart } = config.service!;
    writeFileSync(
      file,
      stringify({ host: config.host, stateDir: config.stateDir, service: { name, command, port, restart } }),
    );
    const shown = await captureStdout(() => status({ config: file }));
    assert.match(
      shown,
      /restarts: grace escalated as a crash loop since \S+ \(3 restarts within 600 s \(limit 3\)\); no restart until: guardian resume service-down grace/,
    );
    const resumedAt = Date.now();
    const resumed = await captureStdout(() => resume('service-down', 'grace', { config: file }));
    assert.match(resumed, /Resumed auto-remediation of service-down on grace \(it was escalated as a crash loop\)/);
    assert.match(
      await captureStdout(() => status({ config: file })),
      /restarts: grace restarted 0 time\(s\) in the last 600 s; 3 left/,
    );
    await waitFor('a start after the resume', () => starts(runtime, resumedAt + 1000) > 0, 10_000);
  });

  it('never signals a hung process that Guardian did not start', async () => {
    const config = lifecycleConfig(join(tmp.dir, 'foreign'), {
      port: await freePorts(4),
      service: { liveness: { period: '250ms', timeout: '250ms', threshold: 3 } },
    });
    const port = config.service!.port.preferred;
    // The service, started by someone else on the service's port, then stopped: alive, silent.
    const foreign: ChildProcess = spawn(process.execPath, [join(root, 'examples/grace/server.mjs')], {
      env: { ...process.env, PORT: String(port), GRACE_HOME: join(tmp.dir, 'foreign-home'), GRACE_LOG_STDOUT: 'false' },
      stdio: 'ignore',
    });
    cleanups.push(async () => {
      foreign.kill('SIGCONT');
      foreign.kill('SIGKILL');
    });
    await waitFor('the foreign service to answer', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/guardian/health`).catch(() => undefined);
      return res?.ok;
    });
    process.kill(foreign.pid!, 'SIGSTOP');
    const runtime = await startGuardian({
      config,
      ensureDevServer: false,
      superviseService: false,
      workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
    });
    cleanups.push(() => runtime.stop());
    const detectedAt = Date.now();
    await runtime.starter.report({
      mode: 'service-down',
      resource: 'grace',
      evidence: `grace on port ${port} does not answer`,
      detectedAt,
    });
    const record = await waitFor('the outcome', () =>
      runtime.ledger
        .incidents({ mode: 'service-down' })
        .find((r) => r.detectedAt >= detectedAt && r.outcome !== 'healing'),
    );
    await runtime.client.workflow.getHandle(record.workflowId).result();
    const final = runtime.ledger.incident(record.workflowId)!;
    assert.equal(final.outcome, 'failed', final.summary);
    assert.deepEqual(
      (final.steps as { name: string }[]).map((s) => s.name),
      ['capture-diagnostics'],
      'no stop, no restart',
    );
    assert.match(
      final.alert ?? '',
      new RegExp(`pid ${foreign.pid} .*Guardian did not start that process, so it was not signalled`),
    );
    assert.equal(processInfo(foreign.pid!)?.state, 'T', 'still there, still stopped: never signalled');
  });
});
