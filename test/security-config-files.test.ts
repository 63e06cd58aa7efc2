import assert from 'node:assert/strict';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createConfigActivities } from '../activities/config.js';
import { createMissingConfigDetector } from '../detectors/missing-config.js';
import type { Finding } from '../detectors/types.js';
import { tempDir, testConfig } from './helpers/fixture.js';

const root = new URL('../', import.meta.url).pathname;
const schema = join(root, 'examples/grace/policies/governance_policies.schema.json');
const defaults = join(root, 'examples/grace/policies/governance_policies.defaults.yaml');
const VALID = readFileSync(defaults, 'utf8');
const EDITED = VALID.replace(/maxConcurrency: \d+/, 'maxConcurrency: 7');
const tmp = tempDir();
after(() => tmp.cleanup());

/** A watched config at `<dir>/config/policies.yaml`, with the demo's schema and defaults. */
function watched(name: string) {
  const config = testConfig(join(tmp.dir, name), {
    configs: [{ name: 'policies', path: join(tmp.dir, name, 'config', 'policies.yaml'), schema, defaults }],
  });
  mkdirSync(join(tmp.dir, name, 'config'), { recursive: true });
  return { config, watchedConfig: config.configs[0] as (typeof config.configs)[number] };
}

/** An editor's save: truncate, a pause (the editor is still writing), then the new content. */
async function truncateThenWrite(path: string, text: string, pauseMs: number): Promise<void> {
  const fd = openSync(path, 'w');
  await sleep(pauseMs);
  writeSync(fd, text);
  closeSync(fd);
}

function runActivity<T>(fn: () => Promise<T>): Promise<T> {
  const env = new MockActivityEnvironment({
    workflowExecution: { workflowId: 'missing-config:test', runId: `run-${Math.random().toString(16).slice(2)}` },
  } as ConstructorParameters<typeof MockActivityEnvironment>[0]);
  return env.run(fn);
}

describe('config checks settle before acting', () => {
  it('keeps a truncate-then-write save: no finding, the saved content stays', async () => {
    const { watchedConfig } = watched('save');
    const path = watchedConfig.path;
    await truncateThenWrite(path, VALID, 0);
    const findings: Finding[] = [];
    const detector = createMissingConfigDetector({ configs: [watchedConfig], intervalMs: 100, settleMs: 800 });
    await detector.start((f) => findings.push(f));
    try {
      await truncateThenWrite(path, EDITED, 400);
      await sleep(1500);
      assert.deepEqual(findings, [], 'a save caught halfway is not damage');
      assert.equal(readFileSync(path, 'utf8'), EDITED);
    } finally {
      await detector.stop();
    }
  });

  it('reports a bad file once the same verdict held across a second read', async () => {
    const { watchedConfig } = watched('stays-bad');
    const path = watchedConfig.path;
    await truncateThenWrite(path, VALID, 0);
    const findings: Finding[] = [];
    const detector = createMissingConfigDetector({ configs: [watchedConfig], intervalMs: 100, settleMs: 300 });
    await detector.start((f) => findings.push(f));
    try {
      const at = Date.now();
      await truncateThenWrite(path, 'version: 1\npolicies: [\n', 0);
      for (let i = 0; i < 100 && findings.length === 0; i++) await sleep(20);
      assert.match(findings[0]?.evidence ?? '', /^parse/);
      assert.ok((findings[0]?.detectedAt ?? 0) - at >= 300, 'not before the verdict settled');
    } finally {
      await detector.stop();
    }
  });

  it('refuses to replace a file that is valid by the time the repair runs', async () => {
    const { config } = watched('valid-now');
    const path = config.configs[0]?.path ?? '';
    await truncateThenWrite(path, 'broken: [\n', 0);
    const activities = createConfigActivities({ config });
    await runActivity(async () => {
      const original = await activities.preserveConfigOriginal({ name: 'policies' });
      await truncateThenWrite(path, EDITED, 0);
      await assert.rejects(activities.restoreConfig({ name: 'policies', original }), /valid now.*leaves it as it is/);
    });
    assert.equal(readFileSync(path, 'utf8'), EDITED);
  });
});

describe('a symbolically linked config', () => {
  function linked(name: string) {
    const setup = watched(name);
    const dotfiles = join(tmp.dir, name, 'dotfiles');
    mkdirSync(dotfiles);
    const target = join(dotfiles, 'policies.yaml');
    symlinkSync(target, setup.watchedConfig.path);
    return { ...setup, target };
  }

  it('is judged by its target and left alone when that is valid (dotfiles managers)', async () => {
    const { watchedConfig, target } = linked('dotfiles');
    await truncateThenWrite(target, VALID, 0);
    const findings: Finding[] = [];
    const detector = createMissingConfigDetector({ configs: [watchedConfig], intervalMs: 50, settleMs: 200 });
    await detector.start((f) => findings.push(f));
    await sleep(800);
    await detector.stop();
    assert.deepEqual(findings, []);
    assert.ok(lstatSync(watchedConfig.path).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), VALID);
  });

  it('is repaired through the link when its target is bad, and the rollback puts the original back into the target', async () => {
    const { config, watchedConfig, target } = linked('repair');
    await truncateThenWrite(target, 'version: 1\npolicies: [\n', 0);
    const activities = createConfigActivities({ config });
    await runActivity(async () => {
      const original = await activities.preserveConfigOriginal({ name: 'policies' });
      assert.equal(original.kind, 'file');
      await activities.restoreConfig({ name: 'policies', original });
      assert.ok(lstatSync(watchedConfig.path).isSymbolicLink(), 'the link stays');
      assert.equal(readlinkSync(watchedConfig.path), target);
      assert.equal(readFileSync(target, 'utf8'), VALID, 'the defaults went into the target');
      await activities.restoreConfigOriginal({ name: 'policies', original });
    });
    assert.ok(lstatSync(watchedConfig.path).isSymbolicLink(), 'still a link after the rollback');
    assert.equal(readFileSync(target, 'utf8'), 'version: 1\npolicies: [\n');
  });
});
