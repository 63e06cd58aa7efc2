import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import type { GuardianConfig } from '../lib/config/load.js';
import { freeBytes } from '../lib/disk.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { fillUntilNoSpace } from '../drills/fill-disk.js';
import { logText, mountTmpfs, populateHome, unmount, writeAged } from './helpers/disk.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const tmp = tempDir();
const scenarios = ['traps', 'rollback', 'short'] as const;
const home = (s: string) => join(tmp.dir, s);
const diskFor = (names: readonly string[], extra: Record<string, unknown> = {}) => ({
  minFree: '3MB',
  logs: { dirs: names.map((s) => join(home(s), 'logs')), olderThan: '7d' },
  snapshots: { dirs: names.map((s) => join(home(s), 'snapshots')), keep: 10 },
  temp: { dirs: names.map((s) => join(home(s), 'tmp')), olderThan: '10m' },
  ...extra,
});
const plain = testConfig(tmp.dir, { disk: diskFor(['traps', 'short']) });
const trashing = testConfig(tmp.dir, { disk: diskFor(['rollback'], { secondary: join(tmp.dir, 'secondary') }) });
const mounted: string[] = [];
let refused: string | undefined;
const workers: TestWorker[] = [];

before(async () => {
  for (const s of scenarios) {
    const result = mountTmpfs(home(s), 16);
    if (!result.ok) {
      refused = result.reason;
      break;
    }
    mounted.push(home(s));
  }
  if (refused) console.log(`# disk-full tmpfs tests skipped: this machine refuses the mount (${refused})`);
  workers.push(await startTestWorker(plain), await startTestWorker(trashing));
});
after(async () => {
  for (const w of workers) await w.stop();
  for (const dir of mounted) unmount(dir);
  tmp.cleanup();
});

async function heal(config: GuardianConfig, worker: TestWorker, resource: string, rollbackWindowMs = 200) {
  const input: IncidentInput<Record<string, never>> = {
    mode: 'disk-full',
    resource,
    evidence: 'test',
    detectedAt: Date.now(),
    host: config.host,
    settings: { rollbackWindowMs, flapLimit: 5, flapWindowMs: 600_000 },
    params: {},
  };
  return worker.client.workflow.start('diskFull', {
    taskQueue: config.taskQueue,
    workflowId: `disk-full:${config.host}:${uniqueName('run')}`,
    args: [input],
  });
}

/** Content of every file under dir, by relative path (symlinks as their target). */
function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) out[path.slice(dir.length)] = readFileSync(path).toString('base64');
  }
  return out;
}

describe('disk-full on a real, small filesystem', () => {
  it('frees space on a tmpfs filled until ENOSPC, without crossing a symlink, touching an open file or the newest 10 snapshots', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const dir = home('traps');
    const { snapshots } = populateHome(dir, {
      oldLogs: 20,
      logLines: 1000,
      snapshots: 16,
      snapshotKb: 256,
      oldTemp: 100,
    });
    // Traps: a file outside, reachable through a symlinked file and a symlinked directory, both old.
    const outside = join(tmp.dir, 'outside');
    mkdirSync(outside, { recursive: true });
    writeAged(join(outside, 'precious.partial'), 'do not delete', 86_400_000);
    for (let i = 0; i < 12; i++) writeAged(join(outside, `snapshot-0${i}.json`), 'outside snapshot', 86_400_000 * 30);
    symlinkSync(join(outside, 'precious.partial'), join(dir, 'tmp', 'link-out.partial'));
    symlinkSync(outside, join(dir, 'snapshots', 'linked-dir'));
    writeAged(join(dir, 'tmp', 'held-open.partial'), 'a process has me open', 86_400_000);
    const held = openSync(join(dir, 'tmp', 'held-open.partial'), 'r');
    try {
      const ballast = join(dir, 'ballast.bin'); // not in a guarded directory: never Guardian's to remove
      fillUntilNoSpace(ballast);
      assert.throws(() => writeFileSync(join(dir, 'logs', 'probe'), Buffer.alloc(65536)), /ENOSPC/);
      assert.ok(freeBytes(dir).free < 3 * 1048576);

      const handle = await heal(plain, workers[0]!, dir);
      const result = (await handle.result()) as IncidentResult;
      assert.equal(result.outcome, 'healed', result.summary);
      assert.ok(freeBytes(dir).free >= 3 * 1048576);
      assert.deepEqual(
        result.steps.map((s) => s.name),
        ['measure', 'clear-temp', 'compress-old-logs', 'remove-old-snapshots', 'verify'],
      );
      // The newest 10 snapshots stay, the 6 oldest went.
      for (const path of snapshots.slice(-10)) assert.ok(existsSync(path), `${path} kept`);
      for (const path of snapshots.slice(0, 6)) assert.ok(!existsSync(path), `${path} removed`);
      // Old logs became .gz holding exactly the same text; the live log is untouched.
      assert.equal(gunzipSync(readFileSync(join(dir, 'logs', 'grace-3.log.gz'))).toString(), logText(1000, 3));
      assert.ok(!existsSync(join(dir, 'logs', 'grace-3.log')));
      assert.ok(existsSync(join(dir, 'logs', 'grace.log')));
      // Temp: old files gone; the fresh one, the open one and the symlink (and what it points to) stay.
      assert.ok(!existsSync(join(dir, 'tmp', 'part-0.partial')));
      assert.ok(existsSync(join(dir, 'tmp', 'writing-now.partial')));
      assert.ok(existsSync(join(dir, 'tmp', 'held-open.partial')), 'a file a process holds open is never touched');
      assert.equal(readFileSync(join(dir, 'tmp', 'link-out.partial'), 'utf8'), 'do not delete');
      assert.equal(readdirSync(outside).length, 13, 'nothing outside the guarded directories was touched');
      assert.ok(existsSync(ballast));
      const ledger = workers[0]!.ledger.incident(handle.workflowId);
      assert.match(ledger?.summary ?? '', /cannot be undone/);
      await recordHistory(handle, 'disk-full-enospc');
    } finally {
      closeSync(held);
    }
  });

  it('moves removed files to a trash on secondary storage and restores them all, byte for byte, on rollback', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const dir = home('rollback');
    populateHome(dir, { oldLogs: 20, logLines: 1000, snapshots: 16, snapshotKb: 256, oldTemp: 100 });
    const before = snapshotTree(join(dir, 'logs'));
    const snapshotsBefore = snapshotTree(join(dir, 'snapshots'));
    const tempBefore = snapshotTree(join(dir, 'tmp'));
    fillUntilNoSpace(join(dir, 'ballast.bin'));
    const handle = await heal(trashing, workers[1]!, dir, 60_000);
    for (let i = 0; i < 200 && (await handle.query(statusQuery)).phase !== 'rollback-window'; i++) await sleep(25);
    assert.equal((await handle.query(statusQuery)).outcome, 'healed');
    assert.ok(readdirSync(join(tmp.dir, 'secondary', 'guardian-trash')).length > 0, 'removed files went to the trash');
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    assert.deepEqual(snapshotTree(join(dir, 'logs')), before);
    assert.deepEqual(snapshotTree(join(dir, 'snapshots')), snapshotsBefore);
    assert.deepEqual(snapshotTree(join(dir, 'tmp')), tempBefore);
    await recordHistory(handle, 'disk-full-rolled-back');
  });

  it('keeps what it freed, fails and says how much is still short when the guarded directories cannot free enough', async (t) => {
    if (refused) return t.skip(`mount refused: ${refused}`);
    const dir = home('short');
    populateHome(dir, { oldLogs: 0, snapshots: 3, snapshotKb: 64, oldTemp: 20 });
    fillUntilNoSpace(join(dir, 'ballast.bin'));
    const handle = await heal(plain, workers[0]!, dir);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed', result.summary);
    assert.ok(!existsSync(join(dir, 'tmp', 'part-0.partial')), 'the temp files it removed stay removed');
    assert.match(result.summary, /kept after the failure: clear-temp/);
    assert.match(workers[0]!.ledger.incident(handle.workflowId)?.alert ?? '', /still short|short of/);
  });
});

describe('disk-full on a real directory with a configured threshold', () => {
  it('frees space until the threshold is met, whatever filesystem the directory is on', async () => {
    const dir = join(tmp.dir, 'real');
    populateHome(dir, { oldLogs: 0, snapshots: 60, snapshotKb: 1024, oldTemp: 0 });
    // The threshold sits 8 MB above what is free now; removing 50 old snapshots frees 50 MB.
    const threshold = freeBytes(dir).free + 8 * 1048576;
    const config = testConfig(tmp.dir, {
      disk: {
        minFree: threshold,
        snapshots: { dirs: [join(dir, 'snapshots')], keep: 10 },
      },
    });
    const worker = await startTestWorker(config);
    try {
      const resource = (await import('../lib/disk.js')).mountOf(dir);
      const result = (await (await heal(config, worker, resource)).result()) as IncidentResult;
      assert.equal(result.outcome, 'healed', result.summary);
      assert.equal(readdirSync(join(dir, 'snapshots')).length, 10);
      assert.ok(statSync(join(dir, 'snapshots')).isDirectory());
    } finally {
      await worker.stop();
    }
  });
});
