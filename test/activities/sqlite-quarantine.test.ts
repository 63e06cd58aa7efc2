import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteActivities, type QuarantinedFile } from '../../activities/sqlite.js';
import { corruptions } from '../../drills/database-corruption.js';
import { takeBackup } from '../../lib/backups.js';
import { tempDir, testConfig } from '../helpers/fixture.js';
import { envFor, inEnv, seedDatabase, sha256 } from '../helpers/sqlite.js';

const tmp = tempDir();
const names = ['damaged', 'healthy'];
const config = testConfig(tmp.dir, {
  databases: names.map((name) => ({ name, path: join(tmp.dir, `${name}.db`) })),
});
const sqlite = createSqliteActivities({ config });
const pathOf = (name: string) => join(tmp.dir, `${name}.db`);
const inode = (path: string) => statSync(path).ino;

/**
 * Leaves committed rows in the WAL with no connection open: a read-only connection stays open
 * while the writer closes, so no close folds the WAL into the main file.
 */
function writeIntoWal(path: string, rows: number): void {
  const reader = new Database(path, { readonly: true });
  reader.pragma('schema_version');
  const writer = new Database(path);
  writer.pragma('wal_autocheckpoint = 0');
  const insert = writer.prepare('INSERT INTO entities (name, data) VALUES (?, ?)');
  for (let i = 0; i < rows; i++) insert.run(`late-${i}`, 'y'.repeat(200));
  writer.close();
  reader.close();
}

before(async () => {
  for (const db of config.databases) {
    seedDatabase(db.path, 2000);
    await takeBackup(db, config.stateDir, 3);
    writeIntoWal(db.path, 50);
  }
});
after(() => tmp.cleanup());

describe('copy-aside', () => {
  it('keeps the main file as a hard link that still holds the original bytes after inspection and restore', async () => {
    const path = pathOf('damaged');
    await corruptions['overwrite-page'](path);
    const original = sha256(path);
    assert.ok(statSync(`${path}-wal`).size > 0, 'the WAL holds committed rows');
    const { dir, files } = await inEnv(envFor('link', '1'), sqlite.quarantineDatabaseFiles, { database: 'damaged' });
    const main = files.find((f) => f.name === 'damaged.db');
    assert.equal(main?.linked, true);
    assert.equal(main?.sha256, '', 'a link is not read at copy-aside; its checksum is read when a rollback needs it');
    assert.equal(inode(join(dir, 'damaged.db')), inode(path), 'no bytes copied: the same inode');
    assert.equal(files.find((f) => f.name === 'damaged.db-wal')?.linked, undefined, 'companions are copies');

    // The inspection opens the file read-write (its lock probe) and must not fold the WAL into it.
    const inspection = await inEnv(envFor('link', '2'), sqlite.inspectDatabase, { database: 'damaged' });
    assert.equal(inspection.verdict, 'corrupt');
    assert.equal(sha256(join(dir, 'damaged.db')), original, 'the inspection wrote nothing');

    await inEnv(envFor('link', '3'), sqlite.restoreLastGoodBackup, { database: 'damaged', quarantineDir: dir });
    assert.notEqual(inode(join(dir, 'damaged.db')), inode(path), 'the restore renamed a new inode over the live path');
    assert.equal(sha256(join(dir, 'damaged.db')), original, 'the quarantine keeps the damaged original');
    assert.notEqual(sha256(path), original);

    const rollback = await inEnv(envFor('link', '9'), sqlite.restoreQuarantinedFiles, { database: 'damaged', dir });
    assert.ok(rollback.restored.includes(path));
    assert.equal(sha256(path), original, 'the rollback put the damaged original back, byte for byte');
  });

  it('gives the quarantine its own copy before a checkpoint writes the live file in place', async () => {
    const path = pathOf('healthy');
    const original = sha256(path);
    const { dir, files } = await inEnv(envFor('ckpt', '1'), sqlite.quarantineDatabaseFiles, { database: 'healthy' });
    assert.equal(files.find((f) => f.name === 'healthy.db')?.linked, true);
    const checkpoint = await inEnv(envFor('ckpt', '2'), sqlite.checkpointDatabase, {
      database: 'healthy',
      quarantineDir: dir,
    });
    assert.ok(checkpoint.walBytesBefore > 0);
    assert.equal(checkpoint.walBytesAfter, 0);
    assert.notEqual(inode(join(dir, 'healthy.db')), inode(path), 'the quarantine has an inode of its own');
    assert.equal(sha256(join(dir, 'healthy.db')), original, 'and still the bytes from before the checkpoint');
    assert.notEqual(sha256(path), original, 'the checkpoint folded the WAL into the live file');
    assert.ok(!existsSync(join(dir, 'healthy.db.guardian-tmp')));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as QuarantinedFile[];
    const entry = manifest.find((f) => f.name === 'healthy.db');
    assert.equal(entry?.sha256, original, 'the copy is recorded with its checksum');
    assert.equal(entry?.linked, undefined);
  });
});
