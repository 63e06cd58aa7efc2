import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { corruptions } from '../drills/database-corruption.js';
import { freePortRange } from '../lib/ports.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { allRows } from './helpers/sqlite.js';
import { workflowBundle } from './helpers/temporal.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = tempDir();
let runtime: GuardianRuntime;

before(async () => {
  const port = await freePortRange(5, 19000);
  const home = join(tmp.dir, 'grace');
  const config = testConfig(tmp.dir, {
    service: {
      name: 'grace',
      command: process.execPath,
      args: [join(root, 'examples/grace/server.mjs')],
      env: { GRACE_HOME: home, GRACE_LOG_STDOUT: 'false' },
      port: { preferred: port, range: [port, port + 4] },
      log: join(home, 'logs/grace.log'),
    },
    databases: ['world_model', 'metrics', 'audit'].map((name) => ({
      name,
      path: join(home, 'databases', `${name}.db`),
    })),
    incidents: { rollbackWindow: '1s', flap: { limit: 5, window: '10m' } },
  });
  runtime = await startGuardian({
    config,
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
  for (let i = 0; i < 100; i++) {
    const health = await runtime.control?.health().catch(() => undefined);
    if (health?.status === 'ok') break;
    await sleep(100);
  }
  await runtime.backups.backupAll();
});
after(async () => {
  await runtime.stop();
  tmp.cleanup();
});

describe('guardian up against the demo service', () => {
  it('detects a corrupted page from the service log and heals it: rows match the backup, the service is healthy', async () => {
    const world = runtime.config.databases.find((d) => d.name === 'world_model');
    assert.ok(world);
    const expected = allRows(world.path);
    const injectedAt = Date.now();
    await corruptions['overwrite-page'](world.path);
    let record;
    for (
      let i = 0;
      i < 300 &&
      !(record = runtime.ledger
        .incidents({ mode: 'database-corruption' })
        .find((r) => r.detectedAt >= injectedAt && r.outcome !== 'healing'));
      i++
    ) {
      await sleep(50);
    }
    assert.equal(record?.outcome, 'healed', record?.summary);
    assert.equal(record?.resource, 'world_model');
    assert.deepEqual(allRows(world.path), expected);
    const health = await runtime.control?.health();
    assert.equal(health?.status, 'ok');
    assert.equal(health?.databases?.world_model?.open, true);

    const history = historyToJSON(await runtime.client.workflow.getHandle(record?.workflowId ?? '').fetchHistory());
    const token = runtime.control?.token ?? '';
    assert.ok(token.length > 10);
    assert.ok(!history.includes(token), 'the control token never enters the workflow history');
    assert.match(history, /closeConnections|callControlHook/);
  });

  it('stops the supervised service when Guardian stops', async () => {
    const pid = runtime.supervisor?.running?.pid;
    assert.ok(pid);
    await runtime.stop();
    assert.throws(() => process.kill(pid, 0), 'the demo service has exited');
  });
});
