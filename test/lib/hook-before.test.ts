import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createMemoryActivities } from '../../activities/memory.js';
import { createNetworkActivities } from '../../activities/network.js';
import { ServiceControl } from '../../lib/service-control.js';
import { StepState } from '../../lib/step-state.js';
import { tempDir, testConfig } from '../helpers/fixture.js';
import { freePorts, root } from '../helpers/lifecycle.js';
import { uniqueName } from '../helpers/temporal.js';

const tmp = tempDir();
const config = testConfig(tmp.dir);
const token = uniqueName('token');
let grace: ChildProcess;
let control: ServiceControl;

before(async () => {
  const port = await freePorts(1);
  const home = join(tmp.dir, 'grace');
  grace = spawn(process.execPath, [join(root, 'examples/grace/server.mjs')], {
    env: {
      ...process.env,
      PORT: String(port),
      GUARDIAN_CONTROL_TOKEN: token,
      GRACE_HOME: home,
      GRACE_LOG_STDOUT: 'false',
    },
    stdio: 'ignore',
  });
  control = new ServiceControl({ port: () => port, token });
  for (let i = 0; i < 100; i++) {
    const health = await control.health(500).catch(() => undefined);
    if (health && health.status !== 'booting') return;
    await sleep(100);
  }
  throw new Error('the demo service did not finish booting');
});
after(() => {
  grace.kill('SIGKILL');
  tmp.cleanup();
});

/** One step of one workflow run, as Temporal names it (a re-run after a crash keeps both IDs). */
const stepOf = (workflowId: string, activityId: string) => {
  const runId = uniqueName('run');
  return {
    run: <T>(fn: () => Promise<T>): Promise<T> =>
      new MockActivityEnvironment({ activityId, workflowExecution: { workflowId, runId } }).run(fn) as Promise<T>,
    /** What Guardian dying after the hook answered, before the step's result was written, leaves: the journal only. */
    crashBeforeRecord: () => rmSync(new StepState(join(config.stateDir, 'step-results', runId), activityId).resultPath),
  };
};

describe('a control-hook step run again after Guardian died between the hook’s answer and the step’s record', () => {
  it('service-offline-mode reports the service online before the first call, so its undo turns offline mode off', async () => {
    const { setServiceOfflineMode } = createNetworkActivities({ config, control });
    const step = stepOf('network-unreachable:h:network', '7');
    const first = await step.run(() => setServiceOfflineMode({ enabled: true }));
    assert.deepEqual(first, { previous: false });
    step.crashBeforeRecord();
    const again = await step.run(() => setServiceOfflineMode({ enabled: true }));
    assert.deepEqual(again, { previous: false }, 'the hook itself now answers previous: true');
    assert.equal((await control.health()).offline, true);
    await stepOf('network-unreachable:h:network', '12').run(() =>
      setServiceOfflineMode({ enabled: again.previous ?? false }),
    );
    assert.equal((await control.health()).offline, false);
  });

  it('low-memory-mode reports normal mode before the first call, so its undo ends low-memory mode', async () => {
    const { relieveMemory } = createMemoryActivities({ config, control, service: undefined });
    const step = stepOf('out-of-memory:h:grace', '9');
    const on = () => relieveMemory({ action: 'low-memory-mode', body: { enabled: true }, settleMs: 0 });
    assert.equal((await step.run(on)).reply?.previous, false);
    step.crashBeforeRecord();
    const again = await step.run(on);
    assert.equal(again.reply?.previous, false, 'the hook itself now answers previous: true');
    assert.equal((await control.health()).lowMemory, true);
    await stepOf('out-of-memory:h:grace', '14').run(() =>
      relieveMemory({ action: 'low-memory-mode', body: { enabled: again.reply?.previous }, settleMs: 0 }),
    );
    assert.equal((await control.health()).lowMemory, false);
  });

  it('limit-concurrency and disable-<feature> report the values before the first call', async () => {
    const { relieveMemory } = createMemoryActivities({ config, control, service: undefined });
    const before = await control.health();
    const limit = stepOf('out-of-memory:h:grace', '10');
    const cap = () => relieveMemory({ action: 'set-concurrency', body: { limit: 2 }, settleMs: 0 });
    await limit.run(cap);
    limit.crashBeforeRecord();
    assert.equal((await limit.run(cap)).reply?.previous, before.concurrency);
    const feature = stepOf('out-of-memory:h:grace', '11');
    const off = () => relieveMemory({ action: 'feature', body: { name: 'snapshots', enabled: false }, settleMs: 0 });
    await feature.run(off);
    feature.crashBeforeRecord();
    assert.equal((await feature.run(off)).reply?.previous, true);
    await control.call('set-concurrency', { limit: before.concurrency });
    await control.call('feature', { name: 'snapshots', enabled: true });
  });
});
