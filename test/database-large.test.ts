// A database past 2 GiB (real rows, built once per run under this test's own directory) is
// healed and rolled back. Needs about 10 GB free: the file, its backup, the quarantined copy.
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { listBackups, takeBackup } from '../lib/backups.js';
import { digestFile as fileDigest } from '../lib/hash.js';
import { corruptions } from '../drills/database-corruption.js';
import { growDatabase } from '../drills/database-size.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import type { DatabaseCorruptionParams } from '../workflows/database-corruption.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const SIZE = 2 ** 31 + 64 * 2 ** 20; // 2 GiB + 64 MiB: past what a whole-file read can hold
const tmp = tempDir('guardian-large-');
const free = (() => {
  const fs = statfsSync(tmp.dir);
  return fs.bavail * fs.bsize;
})();
const skip = free < 10 * 2 ** 30 ? `needs 10 GB free under ${tmp.dir}, has ${(free / 2 ** 30).toFixed(1)} GB` : false;
if (skip) console.log(`# skipped: ${skip}`);

const path = join(tmp.dir, 'big.db');
const config = testConfig(tmp.dir, {
  databases: [{ name: 'big', path }],
  incidents: { rollbackWindow: '60s', flap: { limit: 5, window: '10m' } },
});
let worker: TestWorker | undefined;

describe('database-corruption past 2 GiB', { skip }, () => {
  before(async () => {
    growDatabase(path, SIZE);
    await takeBackup({ name: 'big', path }, config.stateDir, 1);
    worker = await startTestWorker(config);
  });
  after(async () => {
    await worker?.stop();
    tmp.cleanup();
  });

  it('restores the backup of a damaged 2.1 GiB database, then puts the damaged file back on rollback', async () => {
    assert.ok(worker);
    const size = (await fileDigest(path)).size;
    assert.ok(size > 2 ** 31, `the database is past 2 GiB (${size} bytes)`);
    const backup = listBackups(config.stateDir, 'big')[0];
    assert.ok(backup);
    const good = await fileDigest(backup.path);
    await corruptions['overwrite-page'](path);
    const damaged = await fileDigest(path);
    const input: IncidentInput<DatabaseCorruptionParams> = {
      mode: 'database-corruption',
      resource: 'big',
      evidence: 'test',
      detectedAt: Date.now(),
      host: config.host,
      settings: { rollbackWindowMs: 60_000, flapLimit: 5, flapWindowMs: 600_000 },
      params: { database: 'big', serviceConnected: false },
    };
    const handle = await worker.client.workflow.start('databaseCorruption', {
      taskQueue: config.taskQueue,
      workflowId: `database-corruption:${config.host}:big:${uniqueName('run')}`,
      args: [input],
    });
    let status = await handle.query(statusQuery);
    for (let i = 0; i < 1200 && status.phase !== 'rollback-window' && !status.outcome.match(/failed/); i++) {
      await sleep(100);
      status = await handle.query(statusQuery);
    }
    assert.equal(status.phase, 'rollback-window', JSON.stringify(status.steps));
    assert.ok(status.steps.some((s) => s.name === 'restore-last-good-backup'));
    assert.equal((await fileDigest(path)).sha256, good.sha256, 'the healed file is the backup, byte for byte');

    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    assert.equal((await fileDigest(path)).sha256, damaged.sha256, 'the damaged file is back, byte for byte');
  });
});
