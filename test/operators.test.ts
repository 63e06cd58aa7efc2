import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { clear } from '../cli/commands/clear.js';
import { hold } from '../cli/commands/hold.js';
import { resume } from '../cli/commands/resume.js';
import { createServiceRestartActivities } from '../activities/service-restart.js';
import { corruptions } from '../drills/database-corruption.js';
import { listBackups } from '../lib/backups.js';
import { type GuardianConfig, loadConfig } from '../lib/config/load.js';
import type { GuardianConfigInput } from '../lib/config/schema.js';
import { listOverrides, type OverrideKind } from '../lib/overrides.js';
import type { ServiceHealth } from '../lib/service-control.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { freePorts, root, startTestGuardian, waitFor, waitForOutcome } from './helpers/lifecycle.js';
import { uniqueName } from './helpers/temporal.js';

const tmp = tempDir();
let config: GuardianConfig;
let runtime: GuardianRuntime;
let preferred: number;

/** A guardian.yaml on disk (the CLI commands read it): the demo service, three databases, one egress endpoint. */
async function writeConfig(): Promise<GuardianConfig> {
  preferred = await freePorts(4);
  const home = join(tmp.dir, 'grace');
  const host = uniqueName('operators');
  const input: GuardianConfigInput = {
    host,
    taskQueue: `guardian@${host}`,
    stateDir: join(tmp.dir, 'state'),
    incidents: { rollbackWindow: '500ms', flap: { limit: 100, window: '10m' } },
    metrics: { port: 0 },
    service: {
      name: 'grace',
      command: process.execPath,
      args: [join(root, 'examples/grace/server.mjs')],
      env: { GRACE_HOME: home, GRACE_LOG_STDOUT: 'false' },
      port: { preferred, range: [preferred, preferred + 3] },
      log: join(home, 'logs/grace.log'),
      stopTimeout: '2s',
    },
    databases: ['world_model', 'metrics', 'audit'].map((name) => ({
      name,
      path: join(home, 'databases', `${name}.db`),
    })),
    egress: {
      endpoints: [{ name: 'quotes', url: `http://127.0.0.1:${preferred + 3}/quotes`, timeouts: ['3s', '1s'] }],
    },
  };
  const file = join(tmp.dir, 'guardian.yaml');
  writeFileSync(file, stringify(input));
  return loadConfig(file);
}

/** The sample lines of the paused, held and degraded-state gauges: `<labels> <value>` each, sorted. */
function gauges(text: string): { paused: string[]; held: string[]; degraded: string[] } {
  const samples = (family: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${family} `) || line.startsWith(`${family}{`))
      .map((line) => line.slice(family.length).trim())
      .sort();
  return {
    paused: samples('guardian_paused_resources'),
    held: samples('guardian_held_resources'),
    degraded: samples('guardian_degraded_states'),
  };
}

async function healthy(): Promise<void> {
  await waitFor(
    'the demo to be healthy',
    async () => (await runtime.control?.health(500).catch(() => undefined))?.status === 'ok',
  );
}

before(async () => {
  config = await writeConfig();
  runtime = await startTestGuardian(config);
  await healthy();
  await runtime.backups.backupAll();
  // backupAll skips a database whose scheduled first backup is still running: wait for it.
  await waitFor(
    'a verified backup of world_model',
    () => listBackups(config.stateDir, 'world_model').length > 0,
    30_000,
  );
});
after(async () => {
  await runtime.stop();
  tmp.cleanup();
});

describe('metrics', () => {
  it('serves every family on loopback after an incident: incidents by mode and outcome, MTTR, detector lag, paused, held, degraded', async () => {
    const world = config.databases.find((d) => d.name === 'world_model');
    assert.ok(world && runtime.metrics);
    const injectedAt = Date.now();
    await corruptions['overwrite-page'](world.path);
    const record = await waitForOutcome(runtime.ledger, 'database-corruption', injectedAt, 30_000);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.match(runtime.metrics.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await (await fetch(runtime.metrics.url)).text();
    assert.match(text, /guardian_incidents_total\{mode="database-corruption",outcome="healed"\} 1\n/);
    assert.match(text, /guardian_mttr_seconds_count\{mode="database-corruption"\} 1\n/);
    assert.match(text, /guardian_detector_lag_seconds_count\{mode="database-corruption"\} [1-9]/);
    for (const family of ['guardian_paused_resources', 'guardian_held_resources', 'guardian_degraded_states'])
      assert.match(text, new RegExp(`# TYPE ${family} gauge`));
    assert.equal((await fetch(runtime.metrics.url.replace('/metrics', '/other'))).status, 404);
  });

  it('counts paused and held resources and each degraded state by kind, and drops back once they are ended', async () => {
    const { egress, ledger } = runtime;
    assert.ok(egress);
    const scrape = async () => {
      assert.ok(runtime.metrics);
      const res = await fetch(runtime.metrics.url);
      assert.equal(res.status, 200);
      return res.text();
    };
    assert.deepEqual(
      gauges(await scrape()),
      { paused: ['0'], held: ['0'], degraded: [] },
      'nothing quiet or degraded yet',
    );

    // Two holds (one with an end time) and one flap-protection pause, as the CLI and the ledger place them.
    await captureStdout(() => hold('database-corruption', 'audit', { config: config.file, reason: 'restore drill' }));
    await captureStdout(() => hold('database-corruption', 'world_model', { config: config.file, for: '10m' }));
    const pausedIncident = { workflowId: uniqueName('paused'), runId: 'run-1' };
    const gate = ledger.openIncident(
      {
        ...pausedIncident,
        mode: 'database-corruption',
        host: config.host,
        resource: 'metrics',
        evidence: 'test: healed too often',
        detectedAt: Date.now(),
        injectedAt: null,
      },
      { limit: 0, windowMs: 600_000 },
    );
    assert.equal(gate.decision, 'flapping');
    ledger.recordIncident({
      ...pausedIncident,
      outcome: 'flapping',
      healedAt: null,
      mttrMs: null,
      steps: [],
      summary: '',
    });
    egress.setOffline(true);
    egress.setCircuit('quotes', 'open');

    assert.deepEqual(gauges(await scrape()), {
      paused: ['1'],
      held: ['2'],
      degraded: ['{kind="offline-mode"} 1', '{kind="open-circuit"} 1'],
    });

    await captureStdout(() => resume('database-corruption', 'world_model', { config: config.file }));
    assert.match(
      await captureStdout(() => clear('network-unreachable', 'network', { config: config.file })),
      /^Cleared /,
    );
    assert.deepEqual(gauges(await scrape()), {
      paused: ['1'],
      held: ['1'],
      degraded: ['{kind="open-circuit"} 1'],
    });

    await captureStdout(() => resume('database-corruption', 'audit', { config: config.file }));
    await captureStdout(() => resume('database-corruption', 'metrics', { config: config.file }));
    assert.match(await captureStdout(() => clear('api-timeout', 'quotes', { config: config.file })), /^Cleared /);
    const text = await scrape();
    assert.deepEqual(gauges(text), { paused: ['0'], held: ['0'], degraded: [] });
    // An ended degraded state leaves no series behind (the family stays, its samples go).
    assert.match(text, /# TYPE guardian_degraded_states gauge\n/);
  });
});

describe('a way out of every degraded state', () => {
  it('lists each lasting override with its age and command, and `guardian clear` ends each one', async () => {
    const { egress, registry, control, service } = runtime;
    assert.ok(egress && control && service);
    egress.setOffline(true);
    egress.setCircuit('quotes', 'open', 1000);
    egress.setDisabled('quotes', true, 'authentication required');
    registry.setBootOverride('grace', 'plugins', 'skip', null);
    registry.assignPort('grace', preferred + 1, 'test: port taken', null);
    await service.restartOn(preferred + 1);
    await healthy();
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
    // The port last: its restart would end the service's low-memory mode by itself.
    const commands = [...new Set(before.map((o) => o.command))].sort(
      (a, b) => Number(a.includes('port-in-use')) - Number(b.includes('port-in-use')),
    );
    for (const command of commands) {
      const override = before.find((o) => o.command === command);
      assert.ok(override);
      assert.match(await run(override), /^Cleared /);
      if (override.mode === 'out-of-memory') {
        const state: ServiceHealth = await control.health();
        assert.equal(state.lowMemory, false);
        assert.ok(!(state.disabledFeatures ?? []).includes('snapshots'));
      }
    }

    assert.equal(egress.offline, false);
    assert.equal(egress.route('quotes').circuit, 'closed');
    assert.equal(egress.route('quotes').timeoutMs, 3000);
    assert.equal(egress.route('quotes').disabled, false);
    assert.deepEqual(registry.bootOverrides('grace'), []);
    assert.equal(registry.port('grace'), undefined);
    assert.equal(service.port, preferred);
    // The port's clear returns once the service listens; until it has booted, health says only "booting".
    await healthy();
    const health = await control.health();
    assert.equal(health.port, preferred);
    assert.equal(health.lowMemory, false);
    assert.ok(!(health.disabledFeatures ?? []).includes('snapshots'));
    assert.deepEqual(await listOverrides(config), []);
  });

  it('refuses to move the service back while its preferred port is taken, naming the port', async () => {
    const { registry, service } = runtime;
    assert.ok(service);
    registry.assignPort('grace', preferred + 2, 'test: port taken', null);
    await service.restartOn(preferred + 2);
    const { holdPortWithSocket } = await import('./helpers/lifecycle.js');
    const holder = await holdPortWithSocket(preferred);
    try {
      const errors: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((chunk: string) => errors.push(chunk) > 0) as typeof process.stderr.write;
      const code = await clear('port-in-use', 'grace', { config: config.file }).finally(() => {
        process.stderr.write = write;
      });
      assert.equal(code, 1);
      assert.match(
        errors.join(''),
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
    await healthy();
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
    await healthy();
    assert.equal((await runtime.control?.health())?.lowMemory, true);

    await runtime.stop();
    runtime = await startTestGuardian(config);
    await healthy();
    // A start by the restarted Guardian, which never saw the OOM restart, still goes in low-memory mode.
    await runtime.service?.restartOn(preferred);
    await healthy();
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
    await healthy();
    assert.equal((await runtime.control?.health())?.lowMemory, false);
    assert.deepEqual(await listOverrides(config), []);
  });
});
