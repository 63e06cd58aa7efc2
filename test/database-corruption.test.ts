import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { listBackups, quickCheck, takeBackup } from '../lib/backups.js';
import { corruptions } from '../drills/database-corruption.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import type { DatabaseCorruptionParams } from '../workflows/database-corruption.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { allRows, seedDatabase, sha256 } from './helpers/sqlite.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const tmp = tempDir();
const names = ['page', 'header', 'truncated', 'nulls', 'rollback', 'locked', 'nobackup'];
const config = testConfig(tmp.dir, {
  databases: names.map((name) => ({ name, path: join(tmp.dir, `${name}.db`) })),
});
let worker: TestWorker;

before(async () => {
  for (const db of config.databases) {
    seedDatabase(db.path, 2000, db.name === 'locked' ? 'delete' : 'wal');
    if (db.name !== 'nobackup') await takeBackup(db, config.stateDir, 3);
  }
  worker = await startTestWorker(config);
});
after(async () => {
  await worker.stop();
  tmp.cleanup();
});

const pathOf = (name: string) => join(tmp.dir, `${name}.db`);

async function heal(database: string, rollbackWindowMs = 200) {
  const input: IncidentInput<DatabaseCorruptionParams> = {
    mode: 'database-corruption',
    resource: database,
    evidence: 'test',
    detectedAt: Date.now(),
    host: config.host,
    settings: { rollbackWindowMs, flapLimit: 5, flapWindowMs: 600_000 },
    params: { database, serviceConnected: false },
  };
  return worker.client.workflow.start('databaseCorruption', {
    taskQueue: config.taskQueue,
    workflowId: `database-corruption:${config.host}:${database}:${uniqueName('run')}`,
    args: [input],
  });
}

describe('database-corruption', () => {
  for (const [name, variant] of [
    ['page', 'overwrite-page'],
    ['header', 'destroy-header'],
    ['truncated', 'truncate'],
  ] as const) {
    it(`restores the last good backup when ${variant} damages the file, and keeps the damaged copy`, async () => {
      const path = pathOf(name);
      const good = allRows(path);
      await corruptions[variant](path);
      const damaged = sha256(path);
      assert.throws(() => allRows(path), 'the damage is real: reading fails');
      const handle = await heal(name);
      const result = (await handle.result()) as IncidentResult;
      assert.equal(result.outcome, 'healed', result.summary);
      assert.ok(result.steps.some((s) => s.name === 'restore-last-good-backup'));
      assert.deepEqual(allRows(path), good, 'rows match the backup');
      assert.deepEqual(quickCheck(path), []);
      const quarantine = join(config.stateDir, 'quarantine', name);
      const [runDir] = readdirSync(quarantine);
      assert.equal(sha256(join(quarantine, runDir ?? '', `${name}.db`)), damaged, 'damaged file kept byte-identical');
      assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', /Restored the backup/);
      await recordHistory(handle, `database-corruption-${variant}`);
    });
  }

  it("shows the spec's scenario (1,024 null bytes appended) does not corrupt SQLite, and heals it by checkpoint", async () => {
    const path = pathOf('nulls');
    const before = allRows(path);
    appendFileSync(path, Buffer.alloc(1024));
    assert.deepEqual(quickCheck(path), [], 'quick_check still says ok');
    assert.deepEqual(allRows(path), before, 'every row still reads');
    const result = (await (await heal('nulls')).result()) as IncidentResult;
    assert.equal(result.outcome, 'healed');
    assert.ok(result.steps.some((s) => s.name === 'wal-checkpoint'));
    assert.ok(!result.steps.some((s) => s.name === 'restore-last-good-backup'));
  });

  it('puts the pre-remediation files back byte-identical on rollback', async () => {
    const path = pathOf('rollback');
    await corruptions['overwrite-page'](path);
    const damaged = sha256(path);
    const handle = await heal('rollback', 60_000);
    for (let i = 0; i < 200 && (await handle.query(statusQuery)).phase !== 'rollback-window'; i++) await sleep(50);
    assert.notEqual(sha256(path), damaged, 'healed first');
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(sha256(path), damaged);
    await recordHistory(handle, 'database-corruption-rolled-back');
  });

  it('never touches a foreign process holding the lock, and names it in the alert', async () => {
    const path = pathOf('locked');
    const rowsBefore = allRows(path).length;
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D=require('better-sqlite3');const d=new D(${JSON.stringify(path)});d.exec('BEGIN EXCLUSIVE');d.prepare('INSERT INTO entities(name,data) VALUES (1,2)').run();console.log('locked');process.stdin.on('data',()=>{d.exec('COMMIT');console.log('committed')})`,
      ],
      { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      const inode = statSync(path).ino;
      const handle = await heal('locked');
      const result = (await handle.result()) as IncidentResult;
      assert.equal(result.outcome, 'failed');
      assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', new RegExp(`pid ${holder.pid}`));
      assert.equal(holder.exitCode, null, 'the lock holder is still running');
      await recordHistory(handle, 'database-corruption-foreign-lock');
      assert.equal(statSync(path).ino, inode, 'the file the holder has open was not swapped');
      // What the holder commits afterwards lands in the database, not in an unlinked file.
      holder.stdin.write('commit\n');
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      assert.equal(allRows(path).length, rowsBefore + 1);
    } finally {
      holder.kill();
    }
  });

  it('fails with an alert when no verified backup exists, leaving the damaged file in place', async () => {
    const path = pathOf('nobackup');
    assert.equal(listBackups(config.stateDir, 'nobackup').length, 0);
    await corruptions['destroy-header'](path);
    const damaged = sha256(path);
    const handle = await heal('nobackup');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed');
    assert.equal(sha256(path), damaged, 'compensation put the original back');
    assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', /no verified backup/);
  });
});
