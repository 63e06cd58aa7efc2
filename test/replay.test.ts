import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { HISTORIES_DIR } from './helpers/history.js';
import { workflowBundle } from './helpers/temporal.js';
import { MODES } from '../lib/modes.js';

const root = new URL('../', import.meta.url).pathname;
const recorded = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string) {
  return historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')));
}

describe('replay of recorded incidents', () => {
  it('has recorded histories for every mode', () => {
    const modes = new Set(recorded.map((f) => MODES.find((m) => f.startsWith(`${m}-`))));
    for (const mode of MODES) {
      assert.ok(modes.has(mode), `no recorded history of ${mode}; recorded: ${recorded.join(', ')}`);
    }
  });

  it('replays every recorded history against the current workflow code without a determinism error', async () => {
    const bundle = await workflowBundle(join(root, 'workflows/index.ts'));
    const histories = recorded.map((file) => ({ workflowId: file, history: load(file) }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(histories.length >= 3);
  });

  it('catches a nondeterministic change to a workflow', async () => {
    const bundle = await workflowBundle(join(root, 'test/fixtures/altered-workflows.ts'));
    const file = recorded.find((f) => f.startsWith('database-corruption-overwrite-page'));
    assert.ok(file, 'the overwrite-page history is recorded');
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: bundle }, load(file), file),
      (err: unknown) => err instanceof DeterminismViolationError,
    );
  });
});
