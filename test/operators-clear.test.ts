import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { createServiceRestartActivities } from '../activities/service-restart.js';
import { clear, clearInput, clearOnGuardian } from '../cli/commands/clear.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { listOverrides, type OverrideKind } from '../lib/overrides.js';
import type { ServiceHealth } from '../lib/service-control.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { holdPortWithSocket, startTestGuardian } from './helpers/lifecycle.js';
import { captureStderr, demoHealthy, writeOperatorsConfig } from './helpers/operators.js';
import { uniqueName } from './helpers/temporal.js';

const tmp = tempDir();
let config: GuardianConfig;
let runtime: GuardianRuntime;
let preferred: number;

before(async () => {
  ({ config, preferred } = await writeOperatorsConfig(tmp.dir));
  runtime = await startTestGuardian(config);
  await demoHealthy(runtime);
});
after(async () => {
  await runtime.stop();
  tmp.cleanup();
});

/** The deepest cause's message of a failed workflow, as `guardian clear` prints it. */
function causeOf(err: unknown): string {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Moves the demo to `port` as a port-in-use incident would, and waits for it to be healthy there. */
async function moveTo(port: number): Promise<void> {
  const { registry, service } = runtime;
  assert.ok(service);
  registry.assignPort('grace', port, 'test: port taken', null);
  await service.restartOn(port);
  await demoHealthy(runtime);
}

describe('a way out of every degraded state', () => {
  it('lists each lasting override with its age and command, and `guardian clear` ends each one', async () => {
    const { egress, registry, control, service } = runtime;
    assert.ok(egress && control && service);
    egress.setOffline(true);
    egress.setCircuit('quotes', 'open', 1000);
    egress.setDisabled('quotes', true, 'authentication required');
    registry.setBootOverride('grace', 'plugins', 'skip', null);
    await moveTo(preferred + 1);
    await control.call('low-memory-mode', { enabled: true });
    await control.call('feature', { name: 'snapshots', enabled: false });

    const before = await listOverrides(config);
    const kinds = new Set<OverrideKind>(before.map((o) => o.kind));
    for (const kind of [
      'offline-mode',
      'open-circuit',
      'disabled-endpoint',
      'skipped-chunk',
      'low-memory-mode',
      'disabled-feature',
      'moved-port',
    ] as const)
      assert.ok(kinds.has(kind), `${kind} listed: ${JSON.stringify(before)}`);
    assert.ok(before.every((o) => o.command.startsWith('guardian clear ')));
    assert.ok(
      before
        .filter((o) => o.kind !== 'low-memory-mode' && o.kind !== 'disabled-feature')
        .every((o) => o.since !== null),
    );

    const run = (o: (typeof before)[number]) => {
      const [, , mode, resource] = o.command.split(' ');
      return captureStdout(() => clear(mode ?? '', resource ?? '', { config: config.file }));
    };
    // A boot that takes two seconds on the preferred port: "Cleared" must wait for it.
    service.setEnv({ GRACE_SLOW_CHUNK: 'cache-warmup:2000' });
    // The port last: its restart would end the service's low-memory mode by itself.
    const commands = [...new Set(before.map((o) => o.command))].sort(
      (a, b) => Number(a.includes('port-in-use')) - Number(b.includes('port-in-use')),
    );
    for (const command of commands) {
      const override = before.find((o) => o.command === command);
      assert.ok(override);
      const startedAt = Date.now();
      assert.match(await run(override), /^Cleared /);
      if (override.mode === 'out-of-memory') {
        const state: ServiceHealth = await control.health();
        assert.equal(state.lowMemory, false);
        assert.ok(!(state.disabledFeatures ?? []).includes('snapshots'));
      }
      if (override.mode === 'port-in-use') {
        // Reported once healthy there, never while it still boots.
        const answer: ServiceHealth = await control.health();
        assert.equal(answer.status, 'ok', `right after "Cleared": ${JSON.stringify(answer)}`);
        assert.equal(answer.port, preferred);
        assert.ok(Date.now() - startedAt >= 2000, 'the clear waited out the slow boot');
      }
    }
    service.setEnv({ GRACE_SLOW_CHUNK: undefined });

    assert.equal(egress.offline, false);
    assert.equal(egress.route('quotes').circuit, 'closed');
    assert.equal(egress.route('quotes').timeoutMs, 3000);
    assert.equal(egress.route('quotes').disabled, false);
    assert.deepEqual(registry.bootOverrides('grace'), []);
    assert.equal(registry.port('grace'), undefined);
    assert.equal(service.port, preferred);
    const health = await control.health();
    assert.equal(health.port, preferred);
    assert.equal(health.lowMemory, false);
    assert.ok(!(health.disabledFeatures ?? []).includes('snapshots'));
    assert.deepEqual(await listOverrides(config), []);
  });

  it('fails the port clear, naming the port, the log and what to do, when the service is not healthy there within the bound', async () => {
    const { client, service } = runtime;
    assert.ok(service);
    await moveTo(preferred + 1);
    service.setEnv({ GRACE_SLOW_CHUNK: 'cache-warmup:6000' });
    try {
      const input = { ...clearInput(config, 'port-in-use', 'grace'), healthTimeoutMs: 1500 };
      const err = await clearOnGuardian(client, config, input).then(
        () => assert.fail('the clear reported success while the service still booted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.match(
        causeOf(err),
        new RegExp(
          `grace did not report healthy on port ${preferred} within 1500 ms: .+\\. It was moved back to port ` +
            `${preferred} .*read its log \\(.*grace\\.log\\) for why, and follow it with: guardian status`,
        ),
      );
      assert.equal(service.port, preferred, 'it stays where the clear moved it');
    } finally {
      service.setEnv({ GRACE_SLOW_CHUNK: undefined });
    }
    await demoHealthy(runtime);
  });

  it('refuses to move the service back while its preferred port is taken, naming the port', async () => {
    const { service } = runtime;
    assert.ok(service);
    await moveTo(preferred + 2);
    const holder = await holdPortWithSocket(preferred);
    try {
      const { value: code, text } = await captureStderr(() => clear('port-in-use', 'grace', { config: config.file }));
      assert.equal(code, 1);
      assert.match(
        text,
        /grace stays on port \d+: port \d+ is still taken\. Free port \d+, then run the command again/,
      );
      assert.equal(service.port, preferred + 2);
    } finally {
      await holder.stop();
    }
  });

  it('returns a moved service to its preferred port at the next start once the port is free', async () => {
    assert.equal(runtime.registry.port('grace')?.port, preferred + 2);
    await runtime.stop();
    runtime = await startTestGuardian(config);
    await demoHealthy(runtime);
    assert.equal(runtime.service?.port, preferred);
    assert.equal(runtime.registry.port('grace'), undefined);
  });
});

describe('low-memory starts after an OOM kill', () => {
  it('survive a restart of Guardian, are listed by guardian status, and `guardian clear service-down` ends them', async () => {
    const { service, registry, logger } = runtime;
    assert.ok(service);
    await service.stop();
    const { restartService } = createServiceRestartActivities({ config, service, registry, logger });
    await restartService({ key: uniqueName('oom'), cause: 'test: killed for lack of memory', lowMemory: true });
    await demoHealthy(runtime);
    assert.equal((await runtime.control?.health())?.lowMemory, true);

    await runtime.stop();
    runtime = await startTestGuardian(config);
    await demoHealthy(runtime);
    // A start by the restarted Guardian, which never saw the OOM restart, still goes in low-memory mode.
    await runtime.service?.restartOn(preferred);
    await demoHealthy(runtime);
    assert.equal((await runtime.control?.health())?.lowMemory, true);
    const listed = (await listOverrides(config)).filter((o) => o.kind === 'low-memory-mode');
    assert.deepEqual(
      listed.map((o) => [o.mode, o.resource, o.command]),
      [['service-down', 'grace', 'guardian clear service-down grace']],
    );

    assert.match(
      await captureStdout(() => clear('service-down', 'grace', { config: config.file })),
      /^Cleared service-down on grace: grace starts in normal memory mode again; the running service left low-memory mode\./,
    );
    assert.equal((await runtime.control?.health())?.lowMemory, false);
    await runtime.service?.restartOn(preferred);
    await demoHealthy(runtime);
    assert.equal((await runtime.control?.health())?.lowMemory, false);
    assert.deepEqual(await listOverrides(config), []);
  });
});
