import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import Database from 'better-sqlite3';
import { createSqliteActivities } from '../../activities/sqlite.js';
import { takeBackup } from '../../lib/backups.js';
import { FailureType } from '../../lib/failures.js';
import { corruptions } from '../../drills/database-corruption.js';
import { tempDir, testConfig } from '../helpers/fixture.js';
import { allRows, envFor, inEnv, seedDatabase, sha256 } from '../helpers/sqlite.js';

const tmp = tempDir();
const names = ['open', 'wal', 'cancel', 'rerun', 'changed', 'forced', 'nomanifest'];
const config = testConfig(tmp.dir, {
  databases: names.map((name) => ({ name, path: join(tmp.dir, `${name}.db`) })),
});
const sqlite = createSqliteActivities({ config });
const pathOf = (name: string) => join(tmp.dir, `${name}.db`);
let run = 0;
/** The failure type of an activity's error (undefined when it is not an ApplicationFailure). */
const failureType = (err: unknown) => (err instanceof ApplicationFailure ? err.type : undefined);

before(async () => {
  for (const db of config.databases) {
    seedDatabase(db.path, 500);
    await takeBackup(db, config.stateDir, 3);
  }
});
after(() => tmp.cleanup());

/** True when no WAL with content stands beside `path` (a reader may leave an empty one). */
const noWal = (path: string) => !existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0;

/** Copy-aside then restore of the backup, as the workflow does, in run `runId`. */
async function heal(database: string, runId = `run-${++run}`) {
  const { dir } = await inEnv(envFor(runId, '1'), sqlite.quarantineDatabaseFiles, { database });
  await inEnv(envFor(runId, '2'), sqlite.restoreLastGoodBackup, { database, quarantineDir: dir });
  return { dir, runId };
}

/** A process that holds `path` open (a plain open: no lock), until killed. */
async function holdOpen(path: string) {
  const child = spawn(
    process.execPath,
    ['-e', `require('fs').openSync(${JSON.stringify(path)}, 'r'); console.log('open'); setInterval(() => {}, 1000)`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return child;
}

describe('restoreLastGoodBackup', () => {
  it('refuses while another process holds the database open without a lock, naming it briefly', async () => {
    const path = pathOf('open');
    await corruptions['overwrite-page'](path);
    const damaged = sha256(path);
    const holder = await holdOpen(path);
    try {
      const { dir } = await inEnv(envFor('open-1', '1'), sqlite.quarantineDatabaseFiles, { database: 'open' });
      await assert.rejects(
        inEnv(envFor('open-1', '2'), sqlite.restoreLastGoodBackup, { database: 'open', quarantineDir: dir }),
        (err: Error) => {
          assert.equal(failureType(err), FailureType.DatabaseInUse);
          assert.match(err.message, new RegExp(`pid ${holder.pid} \\(node\\)`));
          assert.doesNotMatch(err.message, /openSync/, 'no command line in the message');
          return true;
        },
      );
      assert.equal(sha256(path), damaged, 'the file under the holder was not swapped');
    } finally {
      holder.kill();
    }
  });

  it("moves the damaged file's WAL aside before the rename, and keeps it", async () => {
    const path = pathOf('wal');
    await corruptions['destroy-header'](path);
    writeFileSync(`${path}-wal`, 'the WAL of the damaged file');
    const walBytes = sha256(`${path}-wal`);
    const { dir } = await heal('wal');
    assert.equal(allRows(path).length, 500, 'the backup is in place');
    assert.ok(noWal(path), 'no stale WAL beside the restored file');
    assert.equal(sha256(join(dir, 'displaced', 'wal.db-wal')), walBytes, 'the stale WAL is kept, byte-identical');
  });

  it('when cancelled before its commit point, leaves the database and its companions as they were', async () => {
    const path = pathOf('cancel');
    await corruptions['overwrite-page'](path);
    writeFileSync(`${path}-wal`, 'stale wal of the damaged file');
    const damaged = sha256(path);
    const { dir } = await inEnv(envFor('cancel-1', '1'), sqlite.quarantineDatabaseFiles, { database: 'cancel' });
    const env = envFor('cancel-1', '2');
    env.cancel();
    await assert.rejects(inEnv(env, sqlite.restoreLastGoodBackup, { database: 'cancel', quarantineDir: dir }));
    assert.equal(sha256(path), damaged, 'the damaged file is untouched');
    assert.equal(existsSync(`${path}-wal`), true, 'its WAL is still beside it');
    assert.deepEqual(
      readdirSync(tmp.dir).filter((n) => n.startsWith('cancel.db.guardian')),
      [],
      'no partial copy left behind',
    );
    // The same step run again (a retry) finishes the job.
    const again = await inEnv(envFor('cancel-1', '2'), sqlite.restoreLastGoodBackup, {
      database: 'cancel',
      quarantineDir: dir,
    });
    assert.equal(again.rowsAfter.entities, 500);
    assert.ok(noWal(path));
  });

  it('returns its first result when the same step runs again, without restoring twice', async () => {
    const path = pathOf('rerun');
    await corruptions['destroy-header'](path);
    const { dir, runId } = await heal('rerun');
    const db = new Database(path);
    db.prepare('INSERT INTO entities (name, data) VALUES (?, ?)').run('written-after', 'x');
    db.close();
    const again = await inEnv(envFor(runId, '2'), sqlite.restoreLastGoodBackup, {
      database: 'rerun',
      quarantineDir: dir,
    });
    assert.equal(again.rowsAfter.entities, 500, 'the first result');
    assert.equal(allRows(path).length, 501, 'the write after the heal was not overwritten by a second restore');
  });
});

describe('restoreQuarantinedFiles', () => {
  it('refuses when the database was written since the heal, naming what would be lost', async () => {
    const path = pathOf('changed');
    await corruptions['overwrite-page'](path);
    const { dir, runId } = await heal('changed');
    const db = new Database(path);
    db.prepare('INSERT INTO entities (name, data) VALUES (?, ?)').run('after-heal', 'x');
    db.close();
    const live = sha256(path);
    await assert.rejects(
      inEnv(envFor(runId, '9'), sqlite.restoreQuarantinedFiles, { database: 'changed', dir }),
      (err: Error) => {
        assert.equal(failureType(err), FailureType.DatabaseChangedSinceHeal);
        assert.match(err.message, /written since Guardian healed it \(entities: 500 → 501 rows\)/);
        // Only what works once the incident has closed: the kept files, and the resume of the hold.
        assert.match(err.message, /quarantine.*guardian resume database-corruption changed$/);
        assert.doesNotMatch(err.message, /--force|guardian rollback/);
        return true;
      },
    );
    assert.equal(sha256(path), live, 'nothing was changed');
  });

  it('when forced, keeps the live files aside (verified) and puts the quarantined ones back', async () => {
    const path = pathOf('forced');
    await corruptions['overwrite-page'](path);
    const damaged = sha256(path);
    const { dir, runId } = await heal('forced');
    const db = new Database(path);
    db.prepare('INSERT INTO entities (name, data) VALUES (?, ?)').run('after-heal', 'x');
    db.close();
    const result = await inEnv(envFor(runId, '9'), sqlite.restoreQuarantinedFiles, {
      database: 'forced',
      dir,
      force: true,
    });
    assert.equal(sha256(path), damaged, 'the original files are back');
    assert.ok(result.kept, 'the kept copy is named');
    assert.match(result.discarded ?? '', /entities: 500 → 501/);
    assert.equal(allRows(join(result.kept, 'forced.db')).length, 501, 'the writes since the heal are in the kept copy');
  });

  it('fails, saying so, when the quarantine manifest is missing', async () => {
    const { dir, runId } = await heal('nomanifest');
    rmSync(join(dir, 'manifest.json'));
    await assert.rejects(
      inEnv(envFor(runId, '9'), sqlite.restoreQuarantinedFiles, { database: 'nomanifest', dir }),
      (err: Error) => {
        assert.equal(failureType(err), FailureType.ManifestMissing);
        assert.match(err.message, /manifest .* is missing.*nothing was put back/);
        return true;
      },
    );
  });
});
