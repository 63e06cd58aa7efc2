import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { exportHistory, replay } from '../cli/commands/history.js';
import { abort, rollback } from '../cli/commands/signal.js';
import { status } from '../cli/commands/status.js';
import { corruptions } from '../drills/database-corruption.js';
import { takeBackup } from '../lib/backups.js';
import { UsageError } from '../lib/errors.js';
import { type IncidentInput, type IncidentResult, statusQuery } from '../workflows/definitions.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { seedDatabase } from './helpers/sqlite.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';
import { captureStdout } from './helpers/capture.js';

const tmp = tempDir();
const config = testConfig(tmp.dir, { databases: [{ name: 'clidb', path: join(tmp.dir, 'clidb.db') }] });
const configFile = join(tmp.dir, 'cli-guardian.yaml');
let worker: TestWorker;

before(async () => {
  seedDatabase(join(tmp.dir, 'clidb.db'), 500);
  await takeBackup(config.databases[0] ?? { name: '', path: '' }, config.stateDir, 2);
  writeFileSync(configFile, stringify({ host: config.host, stateDir: config.stateDir }));
  worker = await startTestWorker(config);
});
after(async () => {
  await worker.stop();
  tmp.cleanup();
});

describe('guardian status, rollback, export and replay on a real incident', () => {
  it('shows the open incident, rolls it back, exports its history and replays it', async () => {
    await corruptions['overwrite-page'](join(tmp.dir, 'clidb.db'));
    const input: IncidentInput = {
      mode: 'database-corruption',
      resource: 'clidb',
      evidence: 'CLI test',
      detectedAt: Date.now(),
      host: config.host,
      settings: { rollbackWindowMs: 60_000, flapLimit: 5, flapWindowMs: 600_000 },
      params: { database: 'clidb', serviceConnected: false },
    };
    const handle = await worker.client.workflow.start('databaseCorruption', {
      taskQueue: config.taskQueue,
      workflowId: `database-corruption:${config.host}:clidb`,
      args: [input],
    });
    for (let i = 0; i < 200 && (await handle.query(statusQuery)).phase !== 'rollback-window'; i++) await sleep(50);

    let open: { workflowId: string; phase: string }[] = [];
    for (let i = 0; i < 40 && open.length === 0; i++) {
      open = (
        JSON.parse(await captureStdout(() => status({ config: configFile, json: true }))) as { open: typeof open }
      ).open;
      if (open.length === 0) await sleep(250); // visibility is eventually consistent
    }
    assert.deepEqual(
      open.map((o) => [o.workflowId, o.phase]),
      [[handle.workflowId, 'rollback-window']],
    );

    await captureStdout(() => rollback(handle.workflowId, { reason: 'from the CLI test' }));
    assert.equal(((await handle.result()) as IncidentResult).outcome, 'rolled-back');

    const file = join(tmp.dir, 'incident.json');
    await captureStdout(() => exportHistory(handle.workflowId, file, {}));
    assert.ok(existsSync(file));
    const replayed = JSON.parse(await captureStdout(() => replay(file, { json: true }))) as { ok: boolean };
    assert.equal(replayed.ok, true);
  });

  it('says clearly when the incident to signal does not exist', async () => {
    await assert.rejects(abort('database-corruption:nowhere:nothing', {}), UsageError);
  });
});
