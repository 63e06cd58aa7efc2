import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServiceRestartActivities } from '../activities/service-restart.js';
import { clear } from '../cli/commands/clear.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { listOverrides } from '../lib/overrides.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { startTestGuardian } from './helpers/lifecycle.js';
import { uniqueName } from './helpers/temporal.js';
import { demoHealthy, writeOperatorsConfig } from './helpers/operators.js';

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
