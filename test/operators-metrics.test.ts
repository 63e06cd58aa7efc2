import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clear } from '../cli/commands/clear.js';
import { hold } from '../cli/commands/hold.js';
import { resume } from '../cli/commands/resume.js';
import { corruptions } from '../drills/database-corruption.js';
import { listBackups } from '../lib/backups.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { MODES } from '../lib/modes.js';
import { OVERRIDE_KINDS } from '../lib/overrides.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { startTestGuardian, waitFor, waitForOutcome } from './helpers/lifecycle.js';
import { demoHealthy, writeOperatorsConfig } from './helpers/operators.js';
import { uniqueName } from './helpers/temporal.js';

const tmp = tempDir();
let config: GuardianConfig;
let runtime: GuardianRuntime;

/** One gauge family's samples by its one label's value: `{ 'database-corruption': 1, … }`. */
function samples(text: string, family: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${family}\\{\\w+="([^"]+)"\\} (\\S+)$`).exec(line);
    if (match?.[1] !== undefined) found[match[1]] = Number(match[2]);
    else assert.ok(!line.startsWith(`${family} `), `${family} has a sample without its label: ${line}`);
  }
  return found;
}

/** Every known label value at 0, with `nonZero` on top. */
function zeroExcept(known: readonly string[], nonZero: Record<string, number> = {}): Record<string, number> {
  return { ...Object.fromEntries(known.map((k) => [k, 0])), ...nonZero };
}

function gauges(text: string) {
  return {
    paused: samples(text, 'guardian_paused_resources'),
    held: samples(text, 'guardian_held_resources'),
    degraded: samples(text, 'guardian_degraded_states'),
  };
}

before(async () => {
  ({ config } = await writeOperatorsConfig(tmp.dir));
  runtime = await startTestGuardian(config);
  await demoHealthy(runtime);
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

  it('counts paused and held resources by mode and each degraded state by kind, every series staying at 0 once ended', async () => {
    const { egress, ledger } = runtime;
    assert.ok(egress);
    const scrape = async () => {
      assert.ok(runtime.metrics);
      const res = await fetch(runtime.metrics.url);
      assert.equal(res.status, 200);
      return res.text();
    };
    const calm = { paused: zeroExcept(MODES), held: zeroExcept(MODES), degraded: zeroExcept(OVERRIDE_KINDS) };
    assert.deepEqual(gauges(await scrape()), calm, 'nothing quiet or degraded yet: every mode and kind at 0');

    // Two holds (one with an end time) and one flap-protection pause, as the CLI and the ledger place them.
    await captureStdout(() => hold('database-corruption', 'audit', { config: config.file, reason: 'restore drill' }));
    await captureStdout(() => hold('database-corruption', 'world_model', { config: config.file, for: '10m' }));
    await captureStdout(() => hold('disk-full', 'logs', { config: config.file }));
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
      paused: zeroExcept(MODES, { 'database-corruption': 1 }),
      held: zeroExcept(MODES, { 'database-corruption': 2, 'disk-full': 1 }),
      degraded: zeroExcept(OVERRIDE_KINDS, { 'offline-mode': 1, 'open-circuit': 1 }),
    });

    await captureStdout(() => resume('database-corruption', 'world_model', { config: config.file }));
    await captureStdout(() => resume('disk-full', 'logs', { config: config.file }));
    assert.match(
      await captureStdout(() => clear('network-unreachable', 'network', { config: config.file })),
      /^Cleared /,
    );
    assert.deepEqual(gauges(await scrape()), {
      paused: zeroExcept(MODES, { 'database-corruption': 1 }),
      held: zeroExcept(MODES, { 'database-corruption': 1 }),
      degraded: zeroExcept(OVERRIDE_KINDS, { 'open-circuit': 1 }),
    });

    await captureStdout(() => resume('database-corruption', 'audit', { config: config.file }));
    await captureStdout(() => resume('database-corruption', 'metrics', { config: config.file }));
    assert.match(await captureStdout(() => clear('api-timeout', 'quotes', { config: config.file })), /^Cleared /);
    const text = await scrape();
    // An ended state reads 0 (a vanished series would read as "no data", not as "back to normal").
    assert.deepEqual(gauges(text), calm);
    assert.match(text, /^guardian_degraded_states\{kind="offline-mode"\} 0$/m);
    assert.match(text, /^guardian_held_resources\{mode="disk-full"\} 0$/m);
  });
});
