import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { oncePerStep, runJournaled, stepState } from '../../lib/step-state.js';
import { tempDir } from '../helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const envFor = (activityId: string, runId = 'run-1') =>
  new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: 'out-of-memory:h:grace', runId },
  });

describe('oncePerStep', () => {
  it('returns the first run of a step when the same step runs again, without acting twice', async () => {
    let calls = 0;
    const step = () => oncePerStep(tmp.dir, async () => ({ previous: ++calls }));
    const first = await envFor('7').run(step);
    const again = await envFor('7').run(step);
    assert.deepEqual(first, { previous: 1 });
    assert.deepEqual(again, { previous: 1 }, 'the re-run reports what was there before the first run acted');
    assert.equal(calls, 1);
  });

  it('runs a different step of the same workflow run', async () => {
    let calls = 0;
    const step = () => oncePerStep(tmp.dir, async () => ++calls);
    await envFor('8').run(step);
    await envFor('9').run(step);
    assert.equal(calls, 2);
  });

  it('keeps the "before" observed ahead of a side effect that crashed before its result was recorded', async () => {
    let value = 'original';
    const crashing = () =>
      oncePerStep(
        tmp.dir,
        async (before: string) => {
          value = 'changed';
          if (before === 'original' && value === 'changed' && !crashed) {
            crashed = true;
            throw new Error('worker died after the side effect');
          }
          return { previous: before };
        },
        async () => value,
      );
    let crashed = false;
    await assert.rejects(envFor('10').run(crashing));
    const again = (await envFor('10').run(crashing)) as { previous: string };
    assert.equal(again.previous, 'original', 'the re-run reports the value before the first run acted');
  });
});

describe('runJournaled', () => {
  it('journals the plan (fsynced) before acting, and a re-run after a crash resumes the same plan', async () => {
    const seen: { journaled: boolean; resumed: boolean; plan: number }[] = [];
    let plans = 0;
    const step = () => {
      const state = stepState(tmp.dir, ['area'], 'work');
      return runJournaled(state, {
        plan: async () => ++plans,
        act: async (plan, resumed) => {
          seen.push({ journaled: existsSync(state.journalPath), resumed, plan });
          if (seen.length === 1) throw new Error('crash mid-way');
          return { done: plan };
        },
      });
    };
    await assert.rejects(envFor('1', 'run-j').run(step));
    const result = await envFor('1', 'run-j').run(step);
    assert.deepEqual(result, { done: 1 });
    assert.deepEqual(seen, [
      { journaled: true, resumed: false, plan: 1 },
      { journaled: true, resumed: true, plan: 1 },
    ]);
    assert.equal(plans, 1, 'the second run reused the journaled plan');
    const resultFile = join(tmp.dir, 'area', 'run-j', 'work.json');
    assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), { done: 1 });
    assert.deepEqual(await envFor('1', 'run-j').run(step), { done: 1 }, 'a finished step returns its first result');
    assert.equal(seen.length, 2);
  });
});
