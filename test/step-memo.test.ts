import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { oncePerStep } from '../lib/step-memo.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const envFor = (activityId: string) =>
  new MockActivityEnvironment({
    activityId,
    workflowExecution: { workflowId: 'out-of-memory:h:grace', runId: 'run-1' },
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
});
