import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { Ledger } from '../lib/ledger.js';
import {
  abortSignal,
  type IncidentInput,
  type IncidentResult,
  rollbackSignal,
  statusQuery,
} from '../workflows/definitions.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';
import { createScriptActivities } from './fixtures/script-activities.js';
import type { ScriptParams } from './fixtures/workflows.js';

const tmp = tempDir();
const config = testConfig(tmp.dir);
const journal = join(tmp.dir, 'journal.log');
let worker: TestWorker;

before(async () => {
  writeFileSync(journal, '');
  worker = await startTestWorker(config, { extraActivities: createScriptActivities(journal) });
});
after(async () => {
  await worker.stop();
  tmp.cleanup();
});

function input(resource: string, steps: ScriptParams['steps'], rollbackWindowMs = 300): IncidentInput<ScriptParams> {
  return {
    mode: 'database-corruption',
    resource,
    evidence: 'scripted',
    detectedAt: Date.now(),
    host: config.host,
    settings: { rollbackWindowMs, flapLimit: 3, flapWindowMs: 600_000 },
    params: { steps },
  };
}

async function start(resource: string, steps: ScriptParams['steps'], windowMs?: number): Promise<WorkflowHandle> {
  return worker.client.workflow.start('scriptedIncident', {
    taskQueue: config.taskQueue,
    workflowId: `database-corruption:${config.host}:${resource}`,
    args: [input(resource, steps, windowMs)],
  });
}

const journalOf = (name: string) =>
  readFileSync(journal, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(`:${name}`) || l.includes(`:${name}-`));

async function waitForPhase(
  handle: WorkflowHandle,
  predicate: (s: Awaited<ReturnType<typeof query>>) => boolean,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (predicate(await query(handle))) return;
    await sleep(50);
  }
  throw new Error('status never matched');
}
const query = (handle: WorkflowHandle) => handle.query(statusQuery);

describe('incident harness', () => {
  it('runs the steps in order, verifies, and reports MTTR, search attributes and the ledger row', async () => {
    const r = uniqueName('ok');
    const handle = await start(r, [
      { name: `${r}-a`, durationMs: 10 },
      { name: `${r}-b`, durationMs: 10 },
    ]);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'healed');
    assert.ok(result.mttrMs !== undefined && result.mttrMs >= 0 && result.mttrMs < 30_000);
    assert.deepEqual(
      result.steps.map((s) => s.name),
      [`${r}-a`, `${r}-b`, 'verify'],
    );
    assert.deepEqual(journalOf(r), [`start:${r}-a`, `do:${r}-a`, `start:${r}-b`, `do:${r}-b`]);
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get({ name: 'GuardianOutcome', type: 'KEYWORD' }), 'healed');
    assert.equal(described.typedSearchAttributes.get({ name: 'GuardianResource', type: 'KEYWORD' }), r);
    assert.equal(typeof described.typedSearchAttributes.get({ name: 'GuardianMttrMs', type: 'INT' }), 'number');
    assert.match(String((await handle.describe()).memo?.summary), /healed/);
    const row = worker.ledger.incident(handle.workflowId);
    assert.equal(row?.outcome, 'healed');
    assert.equal(row?.mttrMs, result.mttrMs);
  });

  it('undoes completed steps in reverse order when rollback is signalled in the rollback window', async () => {
    const r = uniqueName('rb');
    const handle = await start(
      r,
      [
        { name: `${r}-a`, durationMs: 10 },
        { name: `${r}-b`, durationMs: 10 },
      ],
      30_000,
    );
    await waitForPhase(handle, (s) => s.phase === 'rollback-window');
    await handle.signal(rollbackSignal, 'test');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.deepEqual(journalOf(r).slice(-2), [`undo:${r}-b`, `undo:${r}-a`]);
    assert.equal(worker.ledger.incident(handle.workflowId)?.outcome, 'rolled-back');
  });

  it('stops after the running step on abort and compensates nothing', async () => {
    const r = uniqueName('abort');
    const handle = await start(r, [
      { name: `${r}-a`, durationMs: 800 },
      { name: `${r}-b`, durationMs: 10 },
    ]);
    await waitForPhase(handle, (s) => s.steps.length === 1);
    await handle.signal(abortSignal, 'operator');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'aborted');
    assert.deepEqual(journalOf(r), [`start:${r}-a`, `do:${r}-a`]);
  });

  it('runs no step when rollback arrives before the first one', async () => {
    const r = uniqueName('early-rb');
    const handle = await worker.client.workflow.signalWithStart('scriptedIncident', {
      taskQueue: config.taskQueue,
      workflowId: `database-corruption:${config.host}:${r}`,
      args: [input(r, [{ name: `${r}-a`, durationMs: 10 }])],
      signal: rollbackSignal,
      signalArgs: ['operator'],
    });
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.deepEqual(journalOf(r), []);
  });

  it('treats Cancel as a rollback: the running step is cancelled and completed steps are undone', async () => {
    const r = uniqueName('cancel');
    const handle = await start(r, [
      { name: `${r}-a`, durationMs: 10 },
      { name: `${r}-b`, durationMs: 20_000 },
    ]);
    await waitForPhase(handle, (s) => s.steps.length === 2);
    await handle.cancel();
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.deepEqual(journalOf(r), [`start:${r}-a`, `do:${r}-a`, `start:${r}-b`, `undo:${r}-a`]);
    assert.equal(result.steps[1]?.state, 'cancelled');
  });

  it('starts compensating only after a step cancelled by a rollback has stopped', async () => {
    const r = uniqueName('wait-cancel');
    const handle = await start(r, [
      { name: `${r}-a`, durationMs: 10 },
      { name: `${r}-b`, durationMs: 20_000, cleanupMs: 700 },
    ]);
    await waitForPhase(handle, (s) => s.steps.length === 2);
    await sleep(200);
    await handle.signal(rollbackSignal, 'operator');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back');
    assert.deepEqual(journalOf(r), [`start:${r}-a`, `do:${r}-a`, `start:${r}-b`, `stopped:${r}-b`, `undo:${r}-a`]);
  });

  it('compensates and alerts when a step fails after its retries', async () => {
    const r = uniqueName('fail');
    const handle = await start(r, [
      { name: `${r}-a`, durationMs: 10 },
      { name: `${r}-b`, durationMs: 10, fail: true },
    ]);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed');
    assert.deepEqual(journalOf(r), [`start:${r}-a`, `do:${r}-a`, `start:${r}-b`, `undo:${r}-a`]);
    assert.match(worker.ledger.incident(handle.workflowId)?.alert ?? '', /could not heal.*failed on purpose/);
  });

  it('after a failure, keeps a kept step and the earlier steps it supersedes, and undoes only the rest', async () => {
    const r = uniqueName('supersede');
    const handle = await start(r, [
      { name: `${r}-a`, durationMs: 10 },
      { name: `${r}-b`, durationMs: 10 },
      { name: `${r}-c`, durationMs: 10, keep: { supersedes: [`${r}-b`] } },
      { name: `${r}-d`, durationMs: 10, fail: true },
    ]);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed');
    const undone = journalOf(r).filter((l) => l.startsWith('undo:'));
    assert.deepEqual(undone, [`undo:${r}-a`], 'b is superseded by the kept c, so only a is undone');
    assert.match(result.summary, new RegExp(`kept after the failure: ${r}-b, ${r}-c`));
  });

  it('on a rollback, undoes a kept step and the steps it superseded, newest first', async () => {
    const r = uniqueName('supersede-rb');
    const handle = await start(
      r,
      [
        { name: `${r}-a`, durationMs: 10 },
        { name: `${r}-b`, durationMs: 10, keep: { supersedes: [`${r}-a`] } },
      ],
      60_000,
    );
    await waitForPhase(handle, (s) => s.phase === 'rollback-window');
    await handle.signal(rollbackSignal, 'test');
    assert.equal(((await handle.result()) as IncidentResult).outcome, 'rolled-back');
    const undone = journalOf(r).filter((l) => l.startsWith('undo:'));
    assert.deepEqual(undone, [`undo:${r}-b`, `undo:${r}-a`]);
  });

  it('escalates a resource healed too often, and the pause survives a restart until resumed', async () => {
    const r = uniqueName('flap');
    for (let i = 0; i < 3; i++) {
      assert.equal(((await (await start(r, [], 10)).result()) as IncidentResult).outcome, 'healed');
    }
    const escalated = (await (await start(r, [], 10)).result()) as IncidentResult;
    assert.equal(escalated.outcome, 'flapping');
    const reopened = new Ledger(join(config.stateDir, 'ledger.db'));
    try {
      assert.ok(reopened.pause('database-corruption', r), 'pause is on disk');
      assert.equal(((await (await start(r, [], 10)).result()) as IncidentResult).outcome, 'flapping');
      assert.deepEqual(reopened.resume('database-corruption', r), ['paused']);
    } finally {
      reopened.close();
    }
    assert.equal(((await (await start(r, [], 10)).result()) as IncidentResult).outcome, 'healed');
  });

  it('does not count a heal the operator rolled back toward flap protection', async () => {
    const r = uniqueName('rb-flap');
    for (let i = 0; i < 2; i++) {
      assert.equal(((await (await start(r, [], 10)).result()) as IncidentResult).outcome, 'healed');
    }
    const undone = await start(r, [{ name: `${r}-a`, durationMs: 10 }], 30_000);
    await waitForPhase(undone, (s) => s.phase === 'rollback-window');
    await undone.signal(rollbackSignal, 'operator');
    assert.equal(((await undone.result()) as IncidentResult).outcome, 'rolled-back');
    assert.equal(worker.ledger.healsSince('database-corruption', r, 0), 2, 'two heals stand; the undone one is gone');
    // The rollback's hold ends without `guardian resume` (which would reset the count): an
    // operator's timed hold took its place and ran out, so the count of heals alone decides.
    worker.ledger.holds.place({
      mode: 'database-corruption',
      resource: r,
      since: Date.now(),
      until: Date.now() + 1,
      reason: 'maintenance',
      source: 'operator',
      workflowId: null,
    });
    await sleep(10);
    const next = (await (await start(r, [], 10)).result()) as IncidentResult;
    assert.equal(next.outcome, 'healed', `limit 3: two heals and a rolled-back one are not three (${next.summary})`);
  });
});
