import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { attachDrills } from '../drills/attached.js';
import { drillConfig } from '../drills/config.js';
import { databaseCorruptionDrill } from '../drills/database-corruption.js';
import { assertDrillPathsInside, DrillOutsideStateError } from '../drills/path-guard.js';
import { runDrills } from '../drills/runner.js';
import { loadConfig } from '../lib/config/load.js';
import { acquireStateDirLock } from '../lib/pid-lock.js';
import { tempDir } from './helpers/fixture.js';
import { seedDatabase, sha256 } from './helpers/sqlite.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = tempDir();
const savedHome = process.env.GRACE_HOME;
after(() => {
  if (savedHome === undefined) delete process.env.GRACE_HOME;
  else process.env.GRACE_HOME = savedHome;
  tmp.cleanup();
});

describe('drills stay in their own state directory', () => {
  it('refuses to drill a guardian.yaml whose database lies elsewhere, and touches nothing', async () => {
    const production = join(tmp.dir, 'production', 'world.db');
    mkdirSync(join(tmp.dir, 'production'));
    seedDatabase(production, 300);
    const before = sha256(production);
    const file = join(tmp.dir, 'guardian.yaml');
    writeFileSync(
      file,
      stringify({ stateDir: join(tmp.dir, 'state'), databases: [{ name: 'world_model', path: production }] }),
    );
    const config = await drillConfig(file);
    await assert.rejects(
      runDrills(config, [databaseCorruptionDrill], { repeat: 1 }),
      (err: unknown) =>
        err instanceof DrillOutsideStateError &&
        err.outside.some((o) => o.key === 'databases[0].path' && o.path === production) &&
        /refusing to drill/.test(err.message),
    );
    assert.equal(sha256(production), before, 'the database is untouched');
  });

  it('refuses to drill a running Guardian whose guardian.yaml puts a database outside its state directory', async () => {
    const production = join(tmp.dir, 'production-running', 'world.db');
    mkdirSync(join(tmp.dir, 'production-running'));
    seedDatabase(production, 300);
    const before = sha256(production);
    const stateDir = join(tmp.dir, 'running-state');
    const file = join(tmp.dir, 'running-guardian.yaml');
    writeFileSync(file, stringify({ stateDir, databases: [{ name: 'world_model', path: production }] }));
    // A Guardian runs on that state directory (its lock names a live process: this one).
    const release = acquireStateDirLock(stateDir);
    try {
      await assert.rejects(
        attachDrills(loadConfig(file), [databaseCorruptionDrill], { repeat: 1 }),
        (err: unknown) =>
          err instanceof DrillOutsideStateError &&
          err.target === 'running' &&
          err.stateDir === stateDir &&
          err.outside.some((o) => o.key === 'databases[0].path' && o.path === production) &&
          /--isolated/.test(err.message),
      );
    } finally {
      release();
    }
    assert.equal(sha256(production), before, 'the database is untouched');
  });

  it("accepts the demo's guardian.yaml: every path it would damage is under the drill's state directory", async () => {
    const config = await drillConfig(join(root, 'guardian.yaml'), { stateDir: join(tmp.dir, 'demo-drill') });
    assert.doesNotThrow(() => assertDrillPathsInside(config));
  });

  it("accepts the running demo's guardian.yaml as npm start resolves it: everything is under its .guardian", () => {
    delete process.env.GRACE_HOME;
    assert.doesNotThrow(() => assertDrillPathsInside(loadConfig(join(root, 'guardian.yaml')), 'running'));
  });
});
