import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { inspectConfigFile, listVersions, saveVersion } from '../lib/config-files.js';
import { sha256 } from '../lib/hash.js';
import { type IncidentInput, type IncidentResult, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import type { MissingConfigParams } from '../workflows/missing-config.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const root = new URL('../', import.meta.url).pathname;
const schema = join(root, 'examples/grace/policies/governance_policies.schema.json');
const defaults = join(root, 'examples/grace/policies/governance_policies.defaults.yaml');
const tmp = tempDir();
const names = ['deleted', 'syntax', 'invalid', 'directory', 'rollback', 'merge', 'badbackups', 'nodefaults'];
const config = testConfig(tmp.dir, {
  configs: names.map((name) => ({
    name,
    path: join(tmp.dir, name, 'config', 'governance_policies.yaml'),
    schema,
    ...(name === 'nodefaults' ? {} : { defaults }),
    ...(name === 'merge' ? { rollback: 'merge' as const } : {}),
  })),
});
const pathOf = (name: string) => join(tmp.dir, name, 'config', 'governance_policies.yaml');
const watched = (name: string) => config.configs.find((c) => c.name === name)!;
let worker: TestWorker;

/** A valid config that differs from the defaults, as a user would have edited it. */
const userConfig = (concurrency: number) =>
  `# my edits\nversion: 1\npolicies:\n  - { name: external-apis, allow: false }\nlimits:\n  maxConcurrency: ${concurrency}\n  cacheEntries: 64\n`;

before(async () => {
  for (const name of names) {
    mkdirSync(join(tmp.dir, name, 'config'), { recursive: true });
    writeFileSync(pathOf(name), userConfig(3));
  }
  worker = await startTestWorker(config);
});
after(async () => {
  await worker.stop();
  tmp.cleanup();
});

async function heal(name: string, rollbackWindowMs = 200) {
  const input: IncidentInput<MissingConfigParams> = {
    mode: 'missing-config',
    resource: name,
    evidence: 'test',
    detectedAt: Date.now(),
    host: config.host,
    settings: { rollbackWindowMs, flapLimit: 5, flapWindowMs: 600_000 },
    params: { config: name, reload: false },
  };
  return worker.client.workflow.start('missingConfig', {
    taskQueue: config.taskQueue,
    workflowId: `missing-config:${config.host}:${name}:${uniqueName('run')}`,
    args: [input],
  });
}

async function untilRollbackWindow(handle: Awaited<ReturnType<typeof heal>>): Promise<void> {
  for (let i = 0; i < 200 && (await handle.query(statusQuery)).phase !== 'rollback-window'; i++) await sleep(25);
}

describe('missing-config', () => {
  it("writes valid defaults when config/governance_policies.yaml is deleted and nothing was kept (the spec's scenario)", async () => {
    rmSync(pathOf('deleted'));
    const handle = await heal('deleted');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'healed', result.summary);
    assert.equal(readFileSync(pathOf('deleted'), 'utf8'), readFileSync(defaults, 'utf8'));
    assert.equal(inspectConfigFile(watched('deleted'), pathOf('deleted')).state, 'ok');
    assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', /embedded defaults.*review it/);
    await recordHistory(handle, 'missing-config-deleted');
  });

  it('restores the last valid version Guardian kept when the file gets a YAML syntax error, and keeps the broken file', async () => {
    saveVersion(config.stateDir, watched('syntax'), readFileSync(pathOf('syntax')));
    const broken = `${userConfig(3)}limits: [unclosed\n  : : :\n`;
    writeFileSync(pathOf('syntax'), broken);
    assert.equal(inspectConfigFile(watched('syntax'), pathOf('syntax')).state, 'parse');
    const handle = await heal('syntax');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'healed', result.summary);
    assert.equal(readFileSync(pathOf('syntax'), 'utf8'), userConfig(3), 'the user version, not the defaults');
    const keptDir = join(config.stateDir, 'config-originals', 'syntax');
    const [run] = readdirSync(keptDir);
    assert.equal(
      readFileSync(join(keptDir, run ?? '', 'original'), 'utf8'),
      broken,
      'broken original kept byte for byte',
    );
    await recordHistory(handle, 'missing-config-syntax-error');
  });

  it('restores the .bak when the file parses but fails the schema', async () => {
    writeFileSync(`${pathOf('invalid')}.bak`, userConfig(5));
    writeFileSync(pathOf('invalid'), userConfig(0));
    const verdict = inspectConfigFile(watched('invalid'), pathOf('invalid'));
    assert.equal(verdict.state, 'invalid');
    assert.match(verdict.problem ?? '', /limits\.maxConcurrency/);
    const result = (await (await heal('invalid')).result()) as IncidentResult;
    assert.equal(result.outcome, 'healed', result.summary);
    assert.equal(readFileSync(pathOf('invalid'), 'utf8'), userConfig(5));
  });

  it('replaces a directory standing where the file was, and a rollback brings the directory back', async () => {
    rmSync(pathOf('directory'));
    mkdirSync(pathOf('directory'));
    writeFileSync(join(pathOf('directory'), 'inside.txt'), 'someone put this here');
    const handle = await heal('directory', 60_000);
    await untilRollbackWindow(handle);
    assert.ok(statSync(pathOf('directory')).isFile(), 'a file again');
    assert.equal(inspectConfigFile(watched('directory'), pathOf('directory')).state, 'ok');
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    assert.ok(statSync(pathOf('directory')).isDirectory());
    assert.equal(readFileSync(join(pathOf('directory'), 'inside.txt'), 'utf8'), 'someone put this here');
    await recordHistory(handle, 'missing-config-directory-rolled-back');
  });

  it("puts the user's corrupt original back byte for byte on rollback", async () => {
    writeFileSync(pathOf('rollback'), 'version: 1\npolicies: {{{{\n');
    const before = sha256(readFileSync(pathOf('rollback')));
    const handle = await heal('rollback', 60_000);
    await untilRollbackWindow(handle);
    assert.notEqual(sha256(readFileSync(pathOf('rollback'))), before);
    appendFileSync(pathOf('rollback'), '# the user edited the restored file\n');
    await handle.signal(rollbackSignal, 'test');
    assert.equal(((await handle.result()) as IncidentResult).outcome, 'rolled-back');
    assert.equal(sha256(readFileSync(pathOf('rollback'))), before);
    const kept = readdirSync(config.stateDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('replaced-by-rollback'),
    );
    assert.ok(
      kept.some((f) => readFileSync(join(config.stateDir, f), 'utf8').includes('the user edited the restored file')),
      'what the rollback replaced is kept, edits included',
    );
  });

  it('merges the original over the restored defaults on rollback when configured to', async () => {
    writeFileSync(pathOf('merge'), 'version: 1\nlimits:\n  maxConcurrency: 0\n');
    const handle = await heal('merge', 60_000);
    await untilRollbackWindow(handle);
    await handle.signal(rollbackSignal, 'test');
    assert.equal(((await handle.result()) as IncidentResult).outcome, 'rolled-back');
    const merged = parse(readFileSync(pathOf('merge'), 'utf8')) as {
      limits: Record<string, number>;
      policies: unknown[];
    };
    assert.equal(merged.limits.maxConcurrency, 0, "the user's value wins");
    assert.equal(merged.limits.cacheEntries, 256, 'the defaults fill the rest');
    assert.equal(merged.policies.length, 3);
  });

  it('passes over backups that are not valid either and falls back to the defaults', async () => {
    writeFileSync(`${pathOf('badbackups')}.bak`, 'version: 2\n');
    saveVersion(config.stateDir, watched('badbackups'), Buffer.from('version: [\n'));
    rmSync(pathOf('badbackups'));
    const handle = await heal('badbackups');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'healed', result.summary);
    assert.equal(readFileSync(pathOf('badbackups'), 'utf8'), readFileSync(defaults, 'utf8'));
    assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', /passed over/);
  });

  it('fails with an alert, leaving things as they were, when there is neither a backup nor defaults', async () => {
    writeFileSync(pathOf('nodefaults'), 'not: [valid\n');
    const before = readFileSync(pathOf('nodefaults'));
    const handle = await heal('nodefaults');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed');
    assert.deepEqual(readFileSync(pathOf('nodefaults')), before);
    assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', /no valid backup/);
  });

  it('keeps each valid version once and only the newest `keep`', () => {
    const cfg = { ...watched('deleted'), name: 'versions', keep: 3 };
    for (let i = 1; i <= 5; i++) saveVersion(config.stateDir, cfg, Buffer.from(userConfig(i)), 1000 + i);
    assert.equal(
      saveVersion(config.stateDir, cfg, Buffer.from(userConfig(5)), 2000),
      undefined,
      'same content is not saved twice',
    );
    const versions = listVersions(config.stateDir, 'versions');
    assert.equal(versions.length, 3);
    assert.equal(readFileSync(versions[0]!.path, 'utf8'), userConfig(5));
    assert.ok(!existsSync(join(config.stateDir, 'configs', 'versions', 'nothing')));
  });
});
