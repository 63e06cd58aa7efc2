import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { hold, renderQuiet } from '../cli/commands/hold.js';
import { resume } from '../cli/commands/resume.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import { rollbackSignal } from '../workflows/definitions.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { workflowBundle } from './helpers/temporal.js';

const root = new URL('../', import.meta.url).pathname;
const defaults = join(root, 'examples/grace/policies/governance_policies.defaults.yaml');
const schema = join(root, 'examples/grace/policies/governance_policies.schema.json');
const tmp = tempDir();
const pathOf = (name: string) => join(tmp.dir, name, 'governance_policies.yaml');
const incidents = { rollbackWindow: '60s', flap: { limit: 1, window: '10m' }, reminderInterval: '3s' };
const configs = ['held', 'paused', 'expiring', 'restarted'].map((name) => ({
  name,
  path: pathOf(name),
  schema,
  defaults,
}));
const config = testConfig(tmp.dir, { configs, incidents });
const configFile = join(tmp.dir, 'guardian.yaml');
let runtime: GuardianRuntime;
const startOnStateDir = async () =>
  startGuardian({
    config,
    ensureDevServer: false,
    superviseService: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });

before(async () => {
  for (const { name } of configs) {
    mkdirSync(join(tmp.dir, name), { recursive: true });
    writeFileSync(pathOf(name), 'version: 1\npolicies: []\nlimits:\n  maxConcurrency: 2\n  cacheEntries: 8\n');
  }
  writeFileSync(
    configFile,
    stringify({ host: config.host, taskQueue: config.taskQueue, stateDir: config.stateDir, configs, incidents }),
  );
  runtime = await startOnStateDir();
});
after(async () => {
  await runtime.stop();
  tmp.cleanup();
});

const workflowIdOf = (name: string) => `missing-config:${config.host}:${name}`;
const rowsOf = (name: string) =>
  runtime.ledger.incidents({ mode: 'missing-config' }).filter((r) => r.workflowId === workflowIdOf(name));

async function until(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(100)) if (predicate()) return;
  assert.fail(`timed out waiting until ${what}`);
}

describe('holds and quiet resources', () => {
  it('after a rollback the original stays in place, held and shown in status, until resume; then it heals', async () => {
    rmSync(pathOf('held'));
    await until('the missing file is healed', () => rowsOf('held').some((r) => r.outcome === 'healed'));
    assert.ok(existsSync(pathOf('held')));

    await runtime.client.workflow.getHandle(workflowIdOf('held')).signal(rollbackSignal, 'operator');
    await until('the heal is rolled back', () => rowsOf('held').some((r) => r.outcome === 'rolled-back'));
    assert.equal(existsSync(pathOf('held')), false, 'the rollback put the original (missing) back');

    await sleep(5000); // five detector ticks that each see the file missing
    assert.equal(existsSync(pathOf('held')), false, 'the original stays in place');
    assert.equal(rowsOf('held').length, 1, 'no new incident while held');
    assert.equal(runtime.ledger.quiet('missing-config', 'held')?.kind, 'held');
    assert.ok(runtime.starter.suppressed > 0, 'the detector kept reporting and the findings were suppressed');
    assert.match(
      renderQuiet(runtime.ledger.quietAll()),
      /^held: missing-config held \(rolled back .*\), for \d+ s; end it with: guardian resume missing-config held$/m,
    );

    const said = await captureStdout(() => resume('missing-config', 'held', { config: configFile }));
    assert.match(said, /Resumed auto-remediation of missing-config on held \(it was held\)/);
    await until(
      'it heals again after resume',
      () => rowsOf('held').filter((r) => r.outcome === 'healed').length === 1 && rowsOf('held').length === 2,
    );
    assert.ok(existsSync(pathOf('held')));
    assert.deepEqual(
      runtime.ledger.holds.changes({ mode: 'missing-config', resource: 'held' }).map((c) => c.change),
      ['held', 'resumed'],
    );
  });

  it('a paused resource whose fault persists starts one workflow (the escalation) and reminds at the interval', async () => {
    rmSync(pathOf('paused'));
    await until('the first heal', () => rowsOf('paused').some((r) => r.outcome === 'healed'));
    rmSync(pathOf('paused'));
    await until('the recurrence escalates', () => rowsOf('paused').some((r) => r.outcome === 'flapping'));
    const escalatedAt = Date.now();

    await sleep(8000); // eight detector ticks that each see the file missing
    assert.equal(existsSync(pathOf('paused')), false);
    assert.deepEqual(
      rowsOf('paused')
        .map((r) => r.outcome)
        .sort(),
      ['flapping', 'healed'],
      'the heal and the one escalation: nothing per tick',
    );
    assert.deepEqual(
      runtime.ledger.holds.changes({ mode: 'missing-config', resource: 'paused' }).map((c) => c.change),
      ['paused'],
    );
    const alerts = runtime.ledger.alerts.latest(200).filter((a) => a.resource === 'paused');
    assert.equal(alerts.filter((a) => /keeps coming back/.test(a.message)).length, 1, 'one escalation alert');
    const reminders = alerts.filter((a) => /still failing/.test(a.message));
    const expected = Math.floor((Date.now() - escalatedAt) / 3000);
    assert.ok(reminders.length >= 1 && reminders.length <= expected + 1, `${reminders.length} reminder(s) in ~8 s`);
    assert.match(reminders[0]?.message ?? '', /guardian resume missing-config paused/);
  });

  it('a hold given --for a short time lifts by itself, and the fault it kept waiting is then healed', async () => {
    const said = await captureStdout(() =>
      hold('missing-config', 'expiring', { config: configFile, for: '4s', reason: 'maintenance' }),
    );
    assert.match(said, /Held missing-config on expiring until /);
    const heldAt = Date.now();
    rmSync(pathOf('expiring'));
    await sleep(2000); // two detector ticks inside the hold
    assert.equal(existsSync(pathOf('expiring')), false, 'nothing is remediated while the hold lasts');
    assert.equal(rowsOf('expiring').length, 0);

    await until('it heals once the hold ran out', () => rowsOf('expiring').some((r) => r.outcome === 'healed'));
    assert.ok(Date.now() - heldAt >= 4000, 'not before the hold ran out');
    assert.ok(existsSync(pathOf('expiring')));
    assert.equal(runtime.ledger.quiet('missing-config', 'expiring'), undefined, 'no hold left to resume');
    assert.deepEqual(
      runtime.ledger.holds.changes({ mode: 'missing-config', resource: 'expiring' }).map((c) => c.change),
      ['held', 'hold-expired'],
    );
  });

  it('a hold survives a restart of Guardian: the new one remediates nothing until resume', async () => {
    await captureStdout(() => hold('missing-config', 'restarted', { config: configFile }));
    await runtime.stop();
    runtime = await startOnStateDir();

    rmSync(pathOf('restarted'));
    await sleep(4000); // four ticks of the restarted Guardian's detector
    assert.equal(existsSync(pathOf('restarted')), false, 'the restarted Guardian left the held file alone');
    assert.equal(rowsOf('restarted').length, 0);
    assert.equal(runtime.ledger.quiet('missing-config', 'restarted')?.kind, 'held');

    await captureStdout(() => resume('missing-config', 'restarted', { config: configFile }));
    await until('it heals after resume', () => rowsOf('restarted').some((r) => r.outcome === 'healed'));
    assert.ok(existsSync(pathOf('restarted')));
  });
});
