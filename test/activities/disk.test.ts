import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDiskActivities } from '../../activities/disk.js';
import { mountOf } from '../../lib/disk.js';
import { mountTmpfs, unmount, writeAged } from '../helpers/disk.js';
import { tempDir, testConfig } from '../helpers/fixture.js';

const tmp = tempDir();
const home = join(tmp.dir, 'home');
let refused: string | undefined;

before(() => {
  const result = mountTmpfs(home, 8);
  if (!result.ok) refused = result.reason;
});
after(() => {
  if (!refused) unmount(home);
  tmp.cleanup();
});

/** The activity environment of one workflow run (its run id names its journals and trash). */
const envOf = (runId: string) =>
  new MockActivityEnvironment({
    workflowExecution: { workflowId: 'disk-full:test', runId },
  } as ConstructorParameters<typeof MockActivityEnvironment>[0]);

/** Runs one disk activity as a given workflow run would. */
function inRun<T>(runId: string, run: () => Promise<T>): Promise<T> {
  return envOf(runId).run(run);
}

/** Snapshots s0 (oldest) … s<n-1> (newest) in `dir`, in a config that keeps the newest one, with a trash on `secondary`. */
function snapshotsWithTrash(name: string, n: number) {
  const dir = join(home, name);
  const secondary = join(tmp.dir, `${name}-secondary`);
  mkdirSync(dir, { recursive: true });
  mkdirSync(secondary, { recursive: true });
  for (let i = 0; i < n; i++) writeAged(join(dir, `s${i}.json`), `snapshot ${i}`, (n - i) * 60_000);
  const config = testConfig(tmp.dir, {
    disk: { minFree: '1GB', snapshots: { dirs: [dir], keep: 1 }, secondary },
  });
  return { dir, secondary, disk: createDiskActivities({ config }), resource: mountOf(home) };
}

describe('disk activities', () => {
  it('returns the artifact it moved, not the older one that already held its name on secondary storage', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const artifacts = join(home, 'artifacts');
    const secondary = join(tmp.dir, 'secondary');
    mkdirSync(artifacts, { recursive: true });
    mkdirSync(secondary, { recursive: true });
    const config = testConfig(tmp.dir, {
      disk: { minFree: '1GB', artifacts: { dirs: [artifacts] }, secondary },
    });
    const disk = createDiskActivities({ config });
    const resource = mountOf(home);

    writeAged(join(artifacts, 'model.bin'), 'first incident', 86_400_000);
    await inRun('run-1', () => disk.moveArtifacts({ resource })); // that incident's heal stands

    writeAged(join(artifacts, 'model.bin'), 'second incident', 86_400_000);
    const moved = await inRun('run-2', () => disk.moveArtifacts({ resource }));
    assert.equal(moved.count, 1);
    await inRun('run-2', () => disk.returnArtifacts({ manifest: moved.manifest }));

    assert.equal(readFileSync(join(artifacts, 'model.bin'), 'utf8'), 'second incident');
    assert.equal(
      readFileSync(join(secondary, 'artifacts', 'artifacts', 'model.bin'), 'utf8'),
      'first incident',
      "the earlier incident's artifact stays where it was moved",
    );
  });

  it('never removes a file held open, when the configured directory is reached through a symlink', async () => {
    const real = join(tmp.dir, 'real-home');
    mkdirSync(join(real, 'tmp'), { recursive: true });
    symlinkSync(real, join(tmp.dir, 'alias'));
    const temp = join(tmp.dir, 'alias', 'tmp');
    const config = testConfig(tmp.dir, { disk: { minFree: '1GB', temp: { dirs: [temp], olderThan: '10m' } } });
    const disk = createDiskActivities({ config });
    writeAged(join(real, 'tmp', 'held-open.partial'), 'a process has me open', 86_400_000);
    writeAged(join(real, 'tmp', 'forgotten.partial'), 'nobody has me open', 86_400_000);
    const held = openSync(join(real, 'tmp', 'held-open.partial'), 'r');
    try {
      const result = await inRun('run-open', () => disk.clearTempFiles({ resource: mountOf(temp) }));
      assert.equal(result.count, 1, 'the forgotten file goes');
      assert.ok(!existsSync(join(real, 'tmp', 'forgotten.partial')));
      assert.ok(existsSync(join(real, 'tmp', 'held-open.partial')), 'the open file stays');
    } finally {
      closeSync(held);
    }
  });

  it('journals every file before removing it, so the rollback returns what a step that died half-way removed', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const { dir, secondary, disk, resource } = snapshotsWithTrash('died-half-way', 5);
    // Removal order is newest-beyond-keep first: s3, s2, s1, s0. A directory where s1 would go
    // in the trash makes the step fail after s3 and s2 went.
    mkdirSync(join(secondary, 'guardian-trash', 'run-died', 'died-half-way', 's1.json'), { recursive: true });
    await assert.rejects(inRun('run-died', () => disk.removeOldSnapshots({ resource })));
    assert.ok(!existsSync(join(dir, 's3.json')) && !existsSync(join(dir, 's2.json')), 'two went before it died');
    const journal = join(tmp.dir, 'state', 'disk', 'run-died', 'snapshots.journal.json');
    const restored = await inRun('run-died', () => disk.restoreRemovedFiles({ manifest: journal }));
    assert.equal(restored.restored, 2);
    assert.deepEqual(readdirSync(dir).sort(), ['s0.json', 's1.json', 's2.json', 's3.json', 's4.json']);
    assert.equal(readFileSync(join(dir, 's2.json'), 'utf8'), 'snapshot 2');
  });

  it('a re-run after the crash finishes the journaled list and returns one result', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const { dir, secondary, disk, resource } = snapshotsWithTrash('rerun', 4);
    const blocker = join(secondary, 'guardian-trash', 'run-rerun', 'rerun', 's1.json');
    mkdirSync(blocker, { recursive: true });
    await assert.rejects(inRun('run-rerun', () => disk.removeOldSnapshots({ resource })));
    rmSync(blocker, { recursive: true });
    // A new file now would be chosen by a fresh scan; the re-run keeps to the journaled list.
    writeAged(join(dir, 'late.json'), 'late', 10 * 60_000);
    const result = await inRun('run-rerun', () => disk.removeOldSnapshots({ resource }));
    assert.equal(result.count, 3, 's2, s1, s0');
    assert.deepEqual(readdirSync(dir).sort(), ['late.json', 's3.json']);
    const again = await inRun('run-rerun', () => disk.removeOldSnapshots({ resource }));
    assert.deepEqual(again, result, 'a finished step returns its first result');
  });

  it('when cancelled mid-way, puts back what it had moved to the trash', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const { dir, secondary, disk, resource } = snapshotsWithTrash('cancelled', 6);
    const env = envOf('run-cancelled');
    env.on('heartbeat', (detail: unknown) => {
      if (detail === '2 files removed') env.cancel();
    });
    await assert.rejects(
      env.run(() => disk.removeOldSnapshots({ resource })),
      (err: Error) => err.name === 'CancelledFailure',
    );
    assert.equal(readdirSync(dir).length, 6, 'every snapshot is back in place');
    const trash = join(secondary, 'guardian-trash', 'run-cancelled', 'cancelled');
    assert.deepEqual(existsSync(trash) ? readdirSync(trash) : [], [], 'nothing left in the trash');
  });

  it('fails, saying so, when a rollback finds no journal', async () => {
    const config = testConfig(tmp.dir, { disk: { minFree: '1GB' } });
    const disk = createDiskActivities({ config });
    const manifest = join(tmp.dir, 'state', 'disk', 'gone', 'temp.journal.json');
    await assert.rejects(
      inRun('run-x', () => disk.restoreRemovedFiles({ manifest })),
      /journal .* is missing/,
    );
    await assert.rejects(
      inRun('run-x', () => disk.decompressLogs({ manifest })),
      /journal .* is missing/,
    );
    await assert.rejects(
      inRun('run-x', () => disk.returnArtifacts({ manifest })),
      /journal .* is missing/,
    );
  });
});
