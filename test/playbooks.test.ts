import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { playbooks } from '../cli/commands/playbooks.js';
import { createActivities } from '../activities/index.js';
import { Ledger } from '../lib/ledger.js';
import { createLogger } from '../lib/logger.js';
import { MODES } from '../lib/modes.js';
import type { Playbook } from '../lib/playbooks.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir, testConfig } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());

describe('guardian playbooks', () => {
  it('lists every mode with its detection, steps and compensations, naming only activities the worker registers', async () => {
    const listed = JSON.parse(await captureStdout(() => playbooks({ json: true }))) as Playbook[];
    assert.deepEqual(
      listed.map((p) => p.mode),
      [...MODES],
    );
    const config = testConfig(tmp.dir);
    const ledger = new Ledger(`${tmp.dir}/ledger.db`);
    const registered = new Set(Object.keys(createActivities({ config, ledger, logger: createLogger('test', 'json') })));
    ledger.close();
    for (const p of listed) {
      assert.ok(p.detection.length > 20 && p.remediation.length > 20, `${p.mode} has detection and remediation text`);
      assert.ok(p.steps.length >= 3, `${p.mode}: ${JSON.stringify(p.steps)}`);
      assert.ok(
        p.steps.some((s) => s.name.startsWith('verify')),
        `${p.mode} verifies`,
      );
      for (const s of p.steps) {
        for (const a of [...s.activities, ...s.compensation])
          assert.ok(a.endsWith('(child workflow)') || registered.has(a), `${p.mode} ${s.name}: ${a} is registered`);
      }
    }
    const step = (mode: string, name: string) =>
      listed.find((p) => p.mode === mode)?.steps.find((s) => s.name === name);
    assert.deepEqual(step('database-corruption', 'copy-aside'), {
      name: 'copy-aside',
      activities: ['quarantineDatabaseFiles'],
      compensation: ['restoreQuarantinedFiles'],
      inspects: false,
    });
    assert.equal(step('database-corruption', 'integrity-check')?.inspects, true);
    assert.deepEqual(step('disk-full', 'compress-old-logs')?.compensation, ['decompressLogs']);
    assert.deepEqual(step('network-unreachable', 'await-network')?.activities, ['offlineWatch (child workflow)']);
    assert.deepEqual(step('out-of-memory', 'disable-<name>')?.activities, ['relieveMemory']);
    // Undos shared with `guardian clear` (workflows/memory-relief.ts) are followed into their file.
    assert.deepEqual(step('out-of-memory', 'limit-concurrency')?.compensation, ['relieveMemory']);
    assert.deepEqual(step('out-of-memory', 'unload-models')?.compensation, ['reloadModels']);
  });

  it('prints a table per mode for people', async () => {
    const text = await captureStdout(() => playbooks({}));
    for (const mode of MODES) assert.match(text, new RegExp(`^${mode} `, 'm'));
    assert.match(text, /restoreLastGoodBackup/);
  });
});
