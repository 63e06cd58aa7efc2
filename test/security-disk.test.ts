import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDiskActivities } from '../activities/disk.js';
import { listFiles, mountOf } from '../lib/disk.js';
import { mountTmpfs, unmount, writeAged } from './helpers/disk.js';
import { tempDir, testConfig } from './helpers/fixture.js';

const tmp = tempDir();
const mounted: string[] = [];
after(() => {
  for (const dir of mounted) unmount(dir);
  tmp.cleanup();
});

const MINUTE = 60_000;

describe('the disk walker and snapshot retention', () => {
  it('stays on the filesystem of the directory it walks: a mount inside is not entered', async (t) => {
    const temp = join(tmp.dir, 'walk', 'tmp');
    mkdirSync(temp, { recursive: true });
    writeAged(join(temp, 'old.partial'), 'x', 60 * MINUTE);
    const other = join(temp, 'other-disk');
    const result = mountTmpfs(other, 1);
    if (!result.ok) {
      t.skip(`cannot mount a tmpfs here: ${result.reason}`);
      return;
    }
    mounted.push(other);
    writeAged(join(other, 'someone-elses.partial'), 'y', 60 * MINUTE);
    const found = (await listFiles(temp)).map((f) => f.path);
    assert.deepEqual(found, [join(temp, 'old.partial')]);

    const config = testConfig(join(tmp.dir, 'walk'), { disk: { temp: { dirs: [temp], olderThan: '1m' } } });
    const disk = createDiskActivities({ config });
    const env = new MockActivityEnvironment({
      workflowExecution: { workflowId: 'disk-full:test', runId: 'walk-run' },
    } as ConstructorParameters<typeof MockActivityEnvironment>[0]);
    await env.run(() => disk.clearTempFiles({ resource: mountOf(temp) }));
    assert.ok(!existsSync(join(temp, 'old.partial')), 'the old temp file on this filesystem went');
    assert.ok(existsSync(join(other, 'someone-elses.partial')), 'the file on the other filesystem stays');
  });

  it('counts directory-style snapshots as one each: the newest N are kept whole, older ones go whole', async () => {
    const snapshots = join(tmp.dir, 'snap', 'snapshots');
    // Five snapshots, each a directory of three files, the newest last; plus one file-style snapshot in between.
    for (let i = 0; i < 5; i++) {
      mkdirSync(join(snapshots, `snap-${i}`), { recursive: true });
      for (const part of ['meta.json', 'data.bin', 'index.bin'])
        writeAged(join(snapshots, `snap-${i}`, part), `${i}-${part}`, (10 - 2 * i) * MINUTE);
    }
    writeAged(join(snapshots, 'snap-2b.tar'), 'tar', 5 * MINUTE);
    const config = testConfig(join(tmp.dir, 'snap'), {
      disk: { minFree: '1GB', snapshots: { dirs: [snapshots], keep: 3 } },
    });
    const disk = createDiskActivities({ config });
    const env = new MockActivityEnvironment({
      workflowExecution: { workflowId: 'disk-full:test', runId: 'snap-run' },
    } as ConstructorParameters<typeof MockActivityEnvironment>[0]);
    await env.run(() => disk.removeOldSnapshots({ resource: mountOf(snapshots) }));
    const left = readdirSync(snapshots)
      .sort()
      .map((name) => (name.endsWith('.tar') ? name : `${name}:${readdirSync(join(snapshots, name)).length}`));
    // Newest three: snap-4, snap-3, snap-2b.tar; the others lose every file.
    assert.deepEqual(
      left.filter((e) => !e.endsWith(':0')),
      ['snap-2b.tar', 'snap-3:3', 'snap-4:3'],
    );
  });
});
