import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { pino } from 'pino';
import { createSqliteActivities } from '../activities/sqlite.js';
import { raiseAlert } from '../lib/alerts.js';
import { copyFileAtomic, writeFileAtomic } from '../lib/atomic-file.js';
import { takeBackup } from '../lib/backups.js';
import { setConfigKey } from '../lib/client-configs.js';
import { saveVersion } from '../lib/config-files.js';
import { EgressStore } from '../lib/egress/store.js';
import { Ledger } from '../lib/ledger.js';
import { GuardianMetrics } from '../lib/metrics.js';
import { startMetricsEndpoint } from '../lib/metrics-server.js';
import { secureStateDir } from '../lib/state-db.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { seedDatabase } from './helpers/sqlite.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe("Guardian's state on disk", () => {
  it('keeps the state directory 0700 and the ledger, egress.db and config versions 0600', () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { mode: 0o755 });
    chmodSync(stateDir, 0o755);
    secureStateDir(stateDir);
    const ledger = new Ledger(join(stateDir, 'ledger.db'));
    const egress = new EgressStore(join(stateDir, 'egress.db'));
    egress.setFlag('offline', 'false');
    const version = saveVersion(stateDir, { name: 'policies', path: '/x/policies.yaml', keep: 5 }, Buffer.from('a: 1'));
    try {
      assert.equal(modeOf(stateDir), 0o700);
      for (const file of ['ledger.db', 'ledger.db-wal', 'egress.db', 'egress.db-wal'])
        assert.equal(modeOf(join(stateDir, file)), 0o600, file);
      assert.equal(modeOf(version ?? ''), 0o600);
      assert.equal(modeOf(join(stateDir, 'configs', 'policies')), 0o700);
    } finally {
      ledger.close();
      egress.close();
    }
  });
});

describe('files Guardian creates under its state directory', () => {
  // The usual umask, under which a plain create is 0644: the modes below must not come from it.
  let umask = 0;
  beforeEach(() => {
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
  });
  const dir = join(tmp.dir, 'created');
  const config = testConfig(dir, { databases: [{ name: 'notes', path: join(dir, 'notes.db') }] });

  it('makes database backups and their checksums 0600', async () => {
    mkdirSync(dir, { recursive: true });
    seedDatabase(join(dir, 'notes.db'), 50);
    const backup = await takeBackup({ name: 'notes', path: join(dir, 'notes.db') }, config.stateDir, 3);
    assert.equal(modeOf(backup.path), 0o600);
    assert.equal(modeOf(`${backup.path}.sha256`), 0o600);
  });

  it('makes the quarantine copies of a database 0600, in an owner-only directory that also guards the linked main file', async () => {
    const env = new MockActivityEnvironment({
      workflowExecution: { workflowId: 'database-corruption:h:q', runId: 'q' },
    });
    const sqlite = createSqliteActivities({ config });
    const { dir: quarantine } = (await env.run(sqlite.quarantineDatabaseFiles, { database: 'notes' })) as {
      dir: string;
    };
    assert.equal(modeOf(quarantine), 0o700);
    const kept = readdirSync(quarantine).filter((name) => name.startsWith('notes.db'));
    assert.ok(kept.length > 1, `copies in ${quarantine}`);
    for (const name of kept) {
      const live = join(dir, name);
      // The main file is a hard link to the live inode (same mode as the live file, no copy); the rest are copies.
      if (name === 'notes.db') assert.equal(statSync(join(quarantine, name)).ino, statSync(live).ino, name);
      else assert.equal(modeOf(join(quarantine, name)), 0o600, name);
    }
  });

  it('makes alerts.log 0600', async () => {
    const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
    try {
      const logger = pino({ level: 'silent' });
      const alert = { key: 'k1', at: Date.now(), resource: 'tmp', severity: 'warning', message: 'm' } as const;
      await raiseAlert({ ledger, logger, config }, alert);
      assert.equal(modeOf(config.alerts.file ?? ''), 0o600);
    } finally {
      ledger.close();
    }
  });

  it('makes metrics.json 0600', async () => {
    const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
    const metrics = new GuardianMetrics({ ledger, overrides: async () => [] });
    const settings = { ...config.metrics, port: 0 };
    const endpoint = await startMetricsEndpoint(metrics, settings, config.stateDir, pino({ level: 'silent' }));
    try {
      assert.equal(modeOf(join(config.stateDir, 'metrics.json')), 0o600);
    } finally {
      await endpoint.stop();
      ledger.close();
    }
  });
});

describe('atomic rewrites', () => {
  it('keep the mode and owner of the file they replace', async () => {
    const file = join(tmp.dir, 'client.yaml');
    writeFileSync(file, 'grace:\n  port: 8000\n');
    chmodSync(file, 0o640);
    chownSync(file, 4321, 4322);
    await setConfigKey(file, 'grace.port', 8001);
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o640);
    assert.deepEqual([st.uid, st.gid], [4321, 4322]);
    assert.match(readFileSync(file, 'utf8'), /port: 8001/);
  });

  it('create a new file 0600', async () => {
    const file = join(tmp.dir, 'fresh', 'new.json');
    await writeFileAtomic(file, '{}');
    assert.equal(modeOf(file), 0o600);
  });

  it('write through a symbolic link to its target, leaving the link in place', async () => {
    const dotfiles = join(tmp.dir, 'dotfiles');
    mkdirSync(dotfiles);
    const target = join(dotfiles, 'client.json');
    writeFileSync(target, '{\n  "port": 8000\n}\n', { mode: 0o644 });
    chmodSync(target, 0o644);
    const link = join(tmp.dir, 'client.json');
    symlinkSync(target, link);
    await setConfigKey(link, 'port', 8005);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
    assert.equal(readlinkSync(link), target);
    assert.match(readFileSync(target, 'utf8'), /"port": 8005/);
    assert.equal(modeOf(target), 0o644);
  });

  it('use an unpredictable, exclusive temporary name: a planted link at the old name is never followed', async () => {
    const victim = join(tmp.dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    const file = join(tmp.dir, 'plain.txt');
    writeFileSync(file, 'old');
    symlinkSync(victim, `${file}.guardian-tmp`);
    await writeFileAtomic(file, 'new');
    await copyFileAtomic(victim, join(tmp.dir, 'copy.txt'));
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    assert.equal(readFileSync(file, 'utf8'), 'new');
    const leftovers = readdirSync(tmp.dir).filter((n) => n.includes('.guardian-tmp') && n !== 'plain.txt.guardian-tmp');
    assert.deepEqual(leftovers, [], 'no temporary file is left behind');
  });

  it('copy over a file keeping its mode (a restored database keeps the permissions it had)', async () => {
    const live = join(tmp.dir, 'live.db');
    const backup = join(tmp.dir, 'backup.db');
    writeFileSync(live, 'live');
    chmodSync(live, 0o660);
    writeFileSync(backup, 'backup', { mode: 0o600 });
    await copyFileAtomic(backup, live);
    assert.equal(readFileSync(live, 'utf8'), 'backup');
    assert.equal(modeOf(live), 0o660);
  });
});
