import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDiskActivities } from '../activities/disk.js';
import { mountOf } from '../lib/disk.js';
import { mountTmpfs, unmount, writeAged } from './helpers/disk.js';
import { tempDir, testConfig } from './helpers/fixture.js';

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

/** Runs one disk activity as a given workflow run would (its run id names its manifests and trash). */
function inRun<T>(runId: string, run: () => Promise<T>): Promise<T> {
  const env = new MockActivityEnvironment({
    workflowExecution: { workflowId: 'disk-full:test', runId },
  } as ConstructorParameters<typeof MockActivityEnvironment>[0]);
  return env.run(run);
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
});
