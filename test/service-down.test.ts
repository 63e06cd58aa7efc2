import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { injectServiceDown, type ServiceDownVariant } from '../drills/service-down.js';
import type { IncidentRecord } from '../lib/ledger.js';
import { processInfo } from '../lib/proc.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { incidentWorkflowId, rollbackSignal } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import {
  freePorts,
  type LifecycleConfigOptions,
  lifecycleConfig,
  startTestGuardian,
  waitFor,
} from './helpers/lifecycle.js';

const tmp = tempDir();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  tmp.cleanup();
});

/** Liveness short enough for tests: a hang is known after 3 × 250 ms. */
const fastLiveness = { period: '250ms', timeout: '250ms', threshold: 3 };

async function guardianWith(name: string, options: Partial<LifecycleConfigOptions> = {}): Promise<GuardianRuntime> {
  const config = lifecycleConfig(join(tmp.dir, name), {
    port: await freePorts(4),
    ...options,
    service: { liveness: fastLiveness, ...options.service },
  });
  const runtime = await startTestGuardian(config);
  cleanups.push(() => runtime.stop());
  await waitFor(
    'the service to finish booting',
    async () => (await runtime.control?.health().catch(() => undefined))?.status === 'ok',
  );
  return runtime;
}

const handleOf = (runtime: GuardianRuntime) =>
  runtime.client.workflow.getHandle(incidentWorkflowId('service-down', runtime.config.host, 'grace'));

/** The service-down incident detected at or after `since`, once it has an outcome and its workflow closed. */
async function outcomeAfter(runtime: GuardianRuntime, since: number, timeoutMs = 20_000): Promise<IncidentRecord> {
  const record = await waitFor(
    'a service-down outcome',
    () =>
      runtime.ledger
        .incidents({ mode: 'service-down', limit: 20 })
        .find((r) => r.detectedAt >= since && r.outcome !== 'healing'),
    timeoutMs,
  );
  return runtime.ledger.incident(record.workflowId) ?? record;
}

const stepNames = (record: IncidentRecord) => (record.steps as { name: string }[]).map((s) => s.name);

async function downAndBack(runtime: GuardianRuntime, variant: ServiceDownVariant): Promise<IncidentRecord> {
  const before = runtime.service!.supervisor.running!;
  const injection = await injectServiceDown({ runtime, servicePort: () => runtime.service?.port }, variant);
  try {
    const record = await outcomeAfter(runtime, injection.injectedAt);
    assert.equal(record.outcome, 'healed', `${variant}: ${record.summary}`);
    const now = runtime.service!.supervisor.running;
    assert.ok(now && now.pid !== before.pid, `${variant}: a new process`);
    assert.equal((await runtime.control!.health()).pid, now.pid);
    assert.equal(processInfo(before.pid), undefined, `${variant}: the old process is gone`);
    await handleOf(runtime).result(); // the rollback window closes: the next variant is a new incident
    return record;
  } finally {
    await injection.cleanup();
  }
}

describe('service-down', () => {
  it('restarts the service after SIGKILL, process.exit(1), an uncaught exception and a hang (SIGSTOP)', async () => {
    const runtime = await guardianWith('variants');
    const killed = await downAndBack(runtime, 'SIGKILL');
    assert.equal(killed.evidence, 'grace exited (signal SIGKILL)');
    assert.deepEqual(stepNames(killed), ['capture-diagnostics', 'restart-budget', 'restart', 'wait-ready', 'verify']);
    assert.match(
      killed.alert ?? '',
      /grace exited \(signal SIGKILL\) after [\d.]+ s\. Guardian restarted it \d+ ms after it died/,
    );
    assert.ok(killed.healedAt! - killed.detectedAt < 5000, `MTTR ${killed.healedAt! - killed.detectedAt} ms`);
    await recordHistory(handleOf(runtime), 'service-down-sigkill');

    const exited = await downAndBack(runtime, 'exit-1');
    assert.equal(exited.evidence, 'grace exited (code 1)');

    const thrown = await downAndBack(runtime, 'uncaught-exception');
    assert.equal(thrown.evidence, 'grace exited (code 1)');
    assert.match(thrown.alert ?? '', /uncaught exception/, 'the last log lines say why');

    const hung = await downAndBack(runtime, 'hang');
    assert.match(hung.evidence, /is alive but did not answer its health route 3 times in a row/);
    assert.deepEqual(stepNames(hung), [
      'capture-diagnostics',
      'restart-budget',
      'stop-hung-process',
      'restart',
      'wait-ready',
      'verify',
    ]);
    assert.match(hung.summary, /state T \(stopped\)/);
    assert.ok(hung.healedAt! - hung.detectedAt < 5000, `MTTR ${hung.healedAt! - hung.detectedAt} ms`);
    await recordHistory(handleOf(runtime), 'service-down-hang');
  });

  it('names the kernel OOM kill past the memory limit it set, restarts in low-memory mode, and rolls that back', async () => {
    const runtime = await guardianWith('oom', {
      // The default liveness: a service thrashing at its limit may miss a short probe before the kill.
      service: { memoryLimit: '256MB', liveness: { period: '1s', timeout: '1s', threshold: 3 } },
      incidents: { rollbackWindow: '5m', flap: { limit: 5, window: '10m' } },
    });
    const injection = await injectServiceDown({ runtime, servicePort: () => runtime.service?.port }, 'memory-kill');
    const record = await outcomeAfter(runtime, injection.injectedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    // Usually the exit itself; on a loaded machine the thrashing before the kill can look like a hang first.
    assert.match(record.evidence, /grace exited \(signal SIGKILL\)|did not answer its health route/);
    assert.match(record.summary, /killed for lack of memory \((kernel log: .*Killed process|oom_kill in )/);
    assert.match(record.alert ?? '', /now runs in low-memory mode \(GUARDIAN_LOW_MEMORY=true\)/);
    assert.equal((await runtime.control!.health()).lowMemory, true);
    const handle = handleOf(runtime);
    await handle.signal(rollbackSignal, 'test');
    assert.equal((await handle.result()).outcome, 'rolled-back');
    assert.equal((await runtime.control!.health()).lowMemory, false, 'low-memory mode ended');
    await recordHistory(handle, 'service-down-oom-rolled-back');
    await injection.cleanup();
  });
});
