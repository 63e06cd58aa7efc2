import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createSqliteActivities } from '../../activities/sqlite.js';
import { takeBackup } from '../../lib/backups.js';
import { FailureType } from '../../lib/failures.js';
import { corruptions } from '../../drills/database-corruption.js';
import { tempDir, testConfig } from '../helpers/fixture.js';
import { root } from '../helpers/lifecycle.js';
import { envFor, inEnv, seedDatabase, sha256 } from '../helpers/sqlite.js';

const tmp = tempDir();
const names = ['held', 'changed'];
const pathOf = (name: string) => join(tmp.dir, `${name}.db`);
const config = testConfig(tmp.dir, { databases: names.map((name) => ({ name, path: pathOf(name) })) });
const sqlite = createSqliteActivities({ config });
const failureType = (err: unknown) => (err instanceof ApplicationFailure ? err.type : undefined);
const companions = ['-wal', '-shm'];

before(async () => {
  for (const db of config.databases) {
    seedDatabase(db.path, 300);
    await takeBackup(db, config.stateDir, 3);
  }
});
after(() => tmp.cleanup());

/** A damaged database with a WAL and shared memory beside it; the checksums of the set. */
async function damaged(name: string): Promise<Record<string, string>> {
  const path = pathOf(name);
  await corruptions['overwrite-page'](path);
  writeFileSync(`${path}-wal`, `rows committed to the WAL of ${name} before the fault`);
  writeFileSync(`${path}-shm`, `shared memory of ${name}`);
  return Object.fromEntries(['', ...companions].map((s) => [s, sha256(`${path}${s}`)]));
}

/** copy-aside, then restore-last-good-backup in a process that dies after moving the companions aside. */
async function crashMidRestore(name: string, runId: string): Promise<string> {
  const path = pathOf(name);
  const { dir } = await inEnv(envFor(runId, '1'), sqlite.quarantineDatabaseFiles, { database: name });
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      join(root, 'test/fixtures/kill-at-rename.mjs'),
      join(root, 'test/fixtures/restore-once.ts'),
      tmp.dir,
      name,
      path,
      runId,
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, GUARDIAN_TEST_KILL_AT_RENAME_TO: path } },
  );
  const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', 'Guardian died inside the step');
  for (const s of companions) {
    assert.equal(existsSync(`${path}${s}`), false, `${s} was moved aside before the crash`);
    assert.equal(existsSync(join(dir, 'displaced', `${name}.db${s}`)), true);
  }
  return dir;
}

/**
 * The damaged set is back as it was, no partial copy is left, and the quarantine holds the same
 * bytes; `ownCopies` (after the undo): each quarantined file is a copy of its own, not a link to the
 * live file (the service may write that once it has it back), its checksum in the manifest.
 */
function assertAsBefore(name: string, before: Record<string, string>, dir: string, ownCopies = false): void {
  const path = pathOf(name);
  for (const [s, hash] of Object.entries(before)) assert.equal(sha256(`${path}${s}`), hash, `${name}.db${s} as before`);
  assert.equal(existsSync(`${path}.guardian-restore`), false, 'no partial copy left');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { name: string; sha256: string }[];
  for (const [s, hash] of Object.entries(before)) {
    // The restore's row count of the quarantined copy (a read-only open) rebuilds that copy's
    // wal-index: the -shm copy holds no rows, and the live one is checked byte for byte above.
    if (s === '-shm') continue;
    assert.equal(sha256(join(dir, `${name}.db${s}`)), hash, `the quarantine holds the same bytes (${s})`);
    if (!ownCopies) continue;
    assert.equal(manifest.find((f) => f.name === `${name}.db${s}`)?.sha256, hash, `in the manifest (${s})`);
    assert.notEqual(statSync(join(dir, `${name}.db${s}`)).ino, statSync(`${path}${s}`).ino);
  }
}

describe('restore-last-good-backup after Guardian died between moving the companions aside and the rename', () => {
  it('a retry that fails (the backup changed) puts the moved -wal/-shm back beside the damaged file', async () => {
    const before = await damaged('changed');
    const dir = await crashMidRestore('changed', 'changed-1');
    const journal = JSON.parse(readFileSync(join(dir, 'restore.journal.json'), 'utf8')) as { backup: string };
    appendFileSync(journal.backup, 'changed since it was chosen');
    await assert.rejects(
      inEnv(envFor('changed-1', '2'), sqlite.restoreLastGoodBackup, { database: 'changed', quarantineDir: dir }),
      (err: Error) => failureType(err) === FailureType.BackupChanged,
    );
    assertAsBefore('changed', before, dir);
    // The step's undo, as the failed incident runs it, finds nothing left to do.
    const undo = await inEnv(envFor('changed-1', '3'), sqlite.undoBackupRestore, {
      database: 'changed',
      quarantineDir: dir,
    });
    assert.deepEqual(undo.returned, []);
    assertAsBefore('changed', before, dir, true);
  });

  it('a retry refused while a process holds the database open leaves them aside; the undo puts them back once it is closed', async () => {
    const before = await damaged('held');
    const dir = await crashMidRestore('held', 'held-1');
    const path = pathOf('held');
    const holder = spawn(
      process.execPath,
      ['-e', `require('fs').openSync(${JSON.stringify(path)}, 'r'); console.log('open'); setInterval(() => {}, 1000)`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(holder.stdout, 'data');
    try {
      await assert.rejects(
        inEnv(envFor('held-1', '2'), sqlite.restoreLastGoodBackup, { database: 'held', quarantineDir: dir }),
        (err: Error) => failureType(err) === FailureType.DatabaseInUse,
      );
      assert.equal(sha256(path), before[''], 'the damaged file under the holder was not swapped');
      await assert.rejects(
        inEnv(envFor('held-1', '3'), sqlite.undoBackupRestore, { database: 'held', quarantineDir: dir }),
        (err: Error) => {
          assert.equal(failureType(err), FailureType.CompanionsDisplaced);
          assert.match(err.message, /held\.db-wal, held\.db-shm stay in .*displaced.*is open in pid \d+/);
          return true;
        },
      );
    } finally {
      holder.kill('SIGKILL');
      await once(holder, 'exit');
    }
    const undo = await inEnv(envFor('held-1', '3'), sqlite.undoBackupRestore, { database: 'held', quarantineDir: dir });
    assert.deepEqual(undo.returned, [`${path}-wal`, `${path}-shm`]);
    assertAsBefore('held', before, dir, true);
  });
});
