import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { takeBackup } from '../lib/backups.js';
import { type ServiceHealth, ServiceControl } from '../lib/service-control.js';
import { corruptions } from '../drills/database-corruption.js';
import type { DatabaseCorruptionParams } from '../workflows/database-corruption.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { allRows, seedDatabase, sha256 } from './helpers/sqlite.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const tmp = tempDir();
const names = ['later-failure', 'unreported', 'refused', 'forced'];
const config = testConfig(tmp.dir, {
  databases: names.map((name) => ({ name, path: join(tmp.dir, `${name}.db`) })),
});
/** What the stand-in service's health route answers; each test sets it. */
let health: ServiceHealth = { status: 'ok' };
let server: Server;
let worker: TestWorker;

before(async () => {
  for (const db of config.databases) {
    seedDatabase(db.path, 300);
    await takeBackup(db, config.stateDir, 3);
  }
  // A service that implements the control hooks (they succeed) and reports `health`.
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.method === 'GET' ? health : {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  worker = await startTestWorker(config, { control: new ServiceControl({ port: () => port, token: 't' }) });
});
after(async () => {
  await worker.stop();
  server.close();
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
    params: { database, serviceConnected: true, healthTimeoutMs: 500 },
  };
  return worker.client.workflow.start('databaseCorruption', {
    taskQueue: config.taskQueue,
    workflowId: `database-corruption:${config.host}:${database}:${uniqueName('run')}`,
    args: [input],
  });
}

async function healedAndWritten(database: string) {
  await corruptions['overwrite-page'](pathOf(database));
  const damaged = sha256(pathOf(database));
  health = { status: 'ok', databases: { [database]: { open: true } } };
  const handle = await heal(database, 60_000);
  for (let i = 0; i < 200 && (await handle.query(statusQuery)).phase !== 'rollback-window'; i++) await sleep(50);
  const db = new Database(pathOf(database));
  db.prepare('INSERT INTO entities (name, data) VALUES (?, ?)').run('written-after-the-heal', 'x');
  db.close();
  return { handle, damaged };
}

describe('database-corruption when a later step fails or the data moved on', () => {
  it('keeps the restored backup when the verify step fails after it', async () => {
    const path = pathOf('later-failure');
    await corruptions['overwrite-page'](path);
    health = { status: 'ok', databases: { 'later-failure': { open: false, lastError: 'still reopening' } } };
    const handle = await heal('later-failure');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed', result.summary);
    assert.ok(result.steps.some((s) => s.name === 'restore-last-good-backup' && s.state === 'completed'));
    assert.equal(allRows(path).length, 300, 'the restored backup stays; the damaged file did not come back');
    assert.match(result.summary, /kept after the failure: copy-aside/);
    await recordHistory(handle, 'database-corruption-later-failure');
  });

  it('does not wait for a database the service does not report', async () => {
    await corruptions['overwrite-page'](pathOf('unreported'));
    health = { status: 'ok', databases: {} };
    const result = (await (await heal('unreported')).result()) as IncidentResult;
    assert.equal(result.outcome, 'healed', result.summary);
    assert.match(result.summary, /does not report unreported/);
  });

  it('refuses to roll back a database written since the heal, saying what would be lost', async () => {
    const { handle, damaged } = await healedAndWritten('refused');
    const live = sha256(pathOf('refused'));
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(sha256(pathOf('refused')), live, 'the live database was not touched');
    const copyAside = result.steps.find((s) => s.name === 'copy-aside');
    assert.equal(copyAside?.state, 'compensation-failed');
    const detail = copyAside?.detail ?? '';
    assert.match(detail, /entities: 300 → 301 rows/);
    // The incident is closed now: a rollback signal cannot reach it, so none is suggested.
    assert.doesNotMatch(detail, /guardian rollback/);
    assert.match(detail, /guardian resume database-corruption refused/);
    assert.ok(worker.ledger.quiet('database-corruption', 'refused'), 'on hold, as the message says');
    const commands = /then run: (.+)\. When done/.exec(detail)?.[1];
    assert.ok(commands, detail);
    execSync(commands, { shell: '/bin/sh' });
    assert.equal(
      sha256(pathOf('refused')),
      damaged,
      'the commands it suggests put the files from before the heal back',
    );
  });

  it('a forced rollback keeps the live files aside, named in the summary, and puts the originals back', async () => {
    const { handle, damaged } = await healedAndWritten('forced');
    await handle.signal(rollbackSignal, 'test', { force: true });
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    assert.equal(sha256(pathOf('forced')), damaged, 'the original files are back');
    const kept = /live files replaced by the rollback are kept in ([^;\s]+)/.exec(result.summary)?.[1];
    assert.ok(kept, result.summary);
    assert.equal(allRows(join(kept, 'forced.db')).length, 301, 'the write after the heal is in the kept copy');
    await recordHistory(handle, 'database-corruption-forced-rollback');
  });
});
