import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServiceDownDetector, type LivenessProbe } from '../detectors/service-down.js';
import type { Finding } from '../detectors/types.js';
import { lastLines, OomWatch } from '../lib/exit-evidence.js';
import { ProcessRegistry } from '../lib/process-registry.js';
import { backoffDelay, RestartBudget, type RestartLimits } from '../lib/restart-budget.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** A supervised process the test drives: exits on demand, answers (or not) on demand. */
function fakeService(name = 'grace') {
  const process = new EventEmitter();
  let pid: number | undefined = 100;
  let answer: LivenessProbe = { ok: true, pid: 100 };
  let down: string | undefined;
  const probes: number[] = [];
  return {
    process,
    probes,
    setPid: (next: number | undefined) => (pid = next),
    setAnswer: (next: LivenessProbe) => (answer = next),
    setDown: (why: string | undefined) => (down = why),
    sources: (threshold = 3) => ({
      name,
      process,
      running: () => (pid === undefined ? undefined : { pid }),
      probe: async (timeoutMs: number) => {
        probes.push(timeoutMs);
        return answer;
      },
      liveness: { periodMs: 20, timeoutMs: 15, threshold },
      downUnexpectedly: () => down,
    }),
  };
}

describe('service-down detector', () => {
  it('reports an exit Guardian did not ask for, by code or signal, but not 98 or a requested stop', () => {
    const svc = fakeService();
    const found: Finding[] = [];
    const detector = createServiceDownDetector(svc.sources());
    void detector.start((f) => found.push(f));
    svc.process.emit('exit', undefined, 'SIGKILL', false);
    svc.process.emit('exit', 1, undefined, false);
    svc.process.emit('exit', 0, undefined, true); // Guardian stopped it
    svc.process.emit('exit', 98, undefined, false); // port-in-use's
    void detector.stop();
    assert.deepEqual(
      found.map((f) => [f.mode, f.resource, f.evidence]),
      [
        ['service-down', 'grace', 'grace exited (signal SIGKILL)'],
        ['service-down', 'grace', 'grace exited (code 1)'],
      ],
    );
  });

  it('reports a hang after `threshold` failed probes in a row while the process is alive, once it had answered', async () => {
    const svc = fakeService();
    const found: Finding[] = [];
    const detector = createServiceDownDetector(svc.sources(3));
    void detector.start((f) => found.push(f));
    await sleep(70); // answers a few times
    assert.equal(found.length, 0);
    svc.setAnswer({ ok: false, reason: 'timeout' });
    await sleep(30);
    svc.setAnswer({ ok: true }); // one failure, then an answer: the count starts over
    await sleep(50);
    assert.equal(found.length, 0, 'no hang from a failure that did not repeat');
    svc.setAnswer({ ok: false, reason: 'no answer within 15 ms' });
    const failingSince = Date.now();
    while (found.length === 0 && Date.now() - failingSince < 2000) await sleep(5);
    void detector.stop();
    assert.equal(found.length, 1);
    assert.match(found[0]!.evidence, /grace \(pid 100\) is alive but did not answer its health route 3 times in a row/);
    assert.ok(
      svc.probes.every((t) => t === 15),
      'each probe has the configured timeout',
    );
  });

  it('does not call a process that never answered since its start a hang, and starts over for a new PID', async () => {
    const svc = fakeService();
    svc.setAnswer({ ok: false, reason: 'ECONNREFUSED' });
    const found: Finding[] = [];
    const detector = createServiceDownDetector(svc.sources(2));
    void detector.start((f) => found.push(f));
    await sleep(150);
    assert.equal(found.length, 0, 'still starting');
    svc.setAnswer({ ok: true });
    await sleep(50);
    svc.setPid(200); // restarted: its failures count only once it answered
    svc.setAnswer({ ok: false, reason: 'ECONNREFUSED' });
    await sleep(150);
    void detector.stop();
    assert.equal(found.length, 0);
  });

  it('reports a service that stays down while Guardian means it to run, and only after two periods', async () => {
    const svc = fakeService();
    svc.setPid(undefined);
    const found: Finding[] = [];
    const detector = createServiceDownDetector(svc.sources());
    void detector.start((f) => found.push(f));
    await sleep(100);
    assert.equal(found.length, 0, 'not down for a reason of its own');
    svc.setDown('it was not started');
    await sleep(30);
    const first = found.length;
    await sleep(60);
    void detector.stop();
    assert.ok(first <= 1);
    assert.equal(found.length, 1, 'reported once while it stays down');
    assert.equal(found[0]!.evidence, 'grace is not running: it was not started');
  });
});

describe('restart budget', () => {
  const limits: RestartLimits = { burst: 3, intervalMs: 10_000, backoffMs: 100, maxBackoffMs: 250 };

  it('restarts first at once, then after a doubling pause up to the cap', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, limits)),
      [0, 100, 200, 250, 250, 250],
    );
  });

  it('refuses past the start limit, holds until resumed, and survives reopening the database', () => {
    const file = join(tmp.dir, 'supervision.db');
    let registry = new ProcessRegistry(file);
    let budget = new RestartBudget(registry.db);
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) {
      const plan = budget.plan('grace', limits, t0 + i);
      assert.ok(plan.allowed, `restart ${i + 1}`);
      assert.equal(plan.remaining, 2 - i);
      assert.ok(budget.record('grace', `run:${i}`, 'grace exited (code 1)', t0 + i));
    }
    assert.equal(budget.record('grace', 'run:2', 'again', t0 + 3), false, 'a re-run counts once');
    const refused = budget.plan('grace', limits, t0 + 5);
    assert.equal(refused.allowed, false);
    assert.match(refused.allowed ? '' : refused.reason, /3 restarts within 10 s \(limit 3\)/);
    budget.hold('grace', 'crash loop', t0 + 5);
    registry.close();

    registry = new ProcessRegistry(file); // a restarted Guardian
    budget = new RestartBudget(registry.db);
    const later = budget.plan('grace', limits, t0 + 60_000); // the window passed, but the hold stays
    assert.equal(later.allowed, false);
    assert.equal(budget.status('grace', limits, t0 + 6).remaining, 0);
    assert.ok(budget.resume('grace', t0 + 60_000));
    const fresh = budget.plan('grace', limits, t0 + 60_001);
    assert.ok(fresh.allowed && fresh.delayMs === 0 && fresh.remaining === 2);
    assert.equal(budget.plan('other', limits, t0).allowed, true, 'budgets are per unit');
    registry.close();
  });
});

describe('exit evidence', () => {
  it('reads the last lines of a file, secrets hidden and long lines cut', () => {
    const file = join(tmp.dir, 'out.log');
    writeFileSync(
      file,
      `${Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n')}\npassword=hunter2\n${'x'.repeat(300)}\n\n`,
    );
    assert.deepEqual(lastLines(file, 3), ['line 19', 'password=***', `${'x'.repeat(199)}…`]);
    assert.deepEqual(lastLines(join(tmp.dir, 'missing.log')), []);
  });

  it("names a runtime's own out-of-memory message, and does not call a plain SIGKILL an OOM kill", () => {
    const watch = new OomWatch();
    const heap = watch.explain({ pid: 1, signal: 'SIGABRT' }, [
      'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
    ]);
    assert.equal(heap.oomKill, true);
    assert.match(heap.evidence ?? '', /JavaScript heap out of memory/);
    assert.equal(watch.explain({ pid: 999_999_999, signal: 'SIGKILL' }).oomKill, false);
    assert.equal(watch.explain({ pid: 1, signal: 'SIGTERM' }).oomKill, false);
  });
});
