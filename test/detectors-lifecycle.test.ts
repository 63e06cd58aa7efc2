import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyModelLine, createModelServerDownDetector } from '../detectors/model-server-down.js';
import { classifyBindLine, createPortInUseDetector } from '../detectors/port-in-use.js';
import { createSlowBootDetector } from '../detectors/slow-boot.js';
import type { Finding, LogLine } from '../detectors/types.js';
import type { ApiProbe } from '../lib/model-server.js';

/** A log the test writes lines into, as LogTail would deliver them. */
function fakeLog() {
  const listeners = new Set<(line: LogLine) => void>();
  return {
    onLine(listener: (line: LogLine) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    write(json: Record<string, unknown>) {
      const line: LogLine = { text: JSON.stringify(json), json, readAt: Date.now() };
      for (const l of listeners) l(line);
    },
    text(text: string) {
      for (const l of listeners) l({ text, readAt: Date.now() });
    },
  };
}

const chunk = (name: string, phase: string, extra: Record<string, unknown> = {}) => ({
  ts: Date.now(),
  event: 'boot.chunk',
  chunk: name,
  phase,
  critical: false,
  deferrable: true,
  budgetMs: 10_000,
  ...extra,
});

describe('port-in-use detector', () => {
  it('reports a bind probe that found the port taken, an exit with 98, and a bind.error line once confirmed', async () => {
    const starts = new EventEmitter();
    const process = new EventEmitter();
    const log = fakeLog();
    const found: Finding[] = [];
    const asked: (number | undefined)[] = [];
    const detector = createPortInUseDetector('grace', {
      starts: Object.assign(starts, { blockedPort: undefined }),
      process,
      log,
      confirm: async (port) => {
        asked.push(port);
        return `port ${port} is held by pid 4242 (python3)`;
      },
    });
    void detector.start((f) => found.push(f));
    starts.emit('port-busy', 8000, 1);
    process.emit('exit', 98, undefined, false);
    process.emit('exit', 98, undefined, true); // Guardian stopped it: not news
    process.emit('exit', 1, undefined, false); // another failure: not this mode
    log.write({
      ts: 5,
      level: 'error',
      event: 'bind.error',
      code: 'EADDRINUSE',
      port: 8000,
      host: '127.0.0.1',
      msg: 'listen EADDRINUSE',
    });
    log.write({ ts: 6, level: 'error', event: 'bind.error', code: 'EACCES', port: 80, msg: 'listen EACCES' });
    await sleep(10);
    assert.deepEqual(asked, [8000], 'the EADDRINUSE line was checked, the EACCES one not');
    assert.deepEqual(
      found.map((f) => [f.mode, f.resource, f.evidence, f.observedAt]),
      [
        ['port-in-use', 'grace', 'port 8000 is taken (bind probe before start)', 1],
        ['port-in-use', 'grace', 'grace exited with code 98 (EADDRINUSE)', undefined],
        [
          'port-in-use',
          'grace',
          'service log: EADDRINUSE "listen EADDRINUSE"; confirmed: port 8000 is held by pid 4242 (python3)',
          5,
        ],
      ],
    );
    void detector.stop();
    starts.emit('port-busy', 8000, 2);
    assert.equal(found.length, 3, 'nothing after stop');
  });

  it('reports a start that found the port taken before the detector started', () => {
    const starts = Object.assign(new EventEmitter(), { blockedPort: { port: 8001, at: 7 } });
    const found: Finding[] = [];
    void createPortInUseDetector('grace', { starts }).start((f) => found.push(f));
    assert.equal(found[0]?.evidence, 'port 8001 is taken (bind probe before start)');
  });

  it('reports again, with doubling pauses, while the service stays down for its port, and stops once it runs', async () => {
    const starts = Object.assign(new EventEmitter(), { blockedPort: undefined });
    let down: string | undefined = 'grace is still down: port 8000 was taken at its last start';
    const found: Finding[] = [];
    const detector = createPortInUseDetector('grace', {
      starts,
      stillDown: () => down,
      persisting: { firstMs: 40, maxMs: 1000 },
    });
    void detector.start((f) => found.push(f));
    starts.emit('port-busy', 8000, 1);
    await sleep(40 + 80 + 60); // the re-reports at 40 ms and 120 ms
    assert.deepEqual(
      found.map((f) => f.evidence),
      [
        'port 8000 is taken (bind probe before start)',
        'grace is still down: port 8000 was taken at its last start',
        'grace is still down: port 8000 was taken at its last start',
      ],
    );
    down = undefined;
    await sleep(200);
    assert.equal(found.length, 3, 'nothing once the service runs');
    void detector.stop();
  });

  it('opens nothing for bind.error lines its confirmation does not bear out, and checks at most ten a minute', async () => {
    const log = fakeLog();
    const found: Finding[] = [];
    let checks = 0;
    const detector = createPortInUseDetector('grace', {
      log,
      confirm: async () => {
        checks++;
        return undefined;
      },
    });
    void detector.start((f) => found.push(f));
    for (let i = 0; i < 40; i++) {
      log.write({ ts: i, event: 'bind.error', code: 'EADDRINUSE', port: 8000, msg: 'listen EADDRINUSE' });
      await sleep(2);
    }
    await sleep(20);
    void detector.stop();
    assert.deepEqual(found, []);
    assert.ok(checks >= 1 && checks <= 10, `${checks} checks`);
  });

  it('acts on no bind.error line at all without a confirmation', () => {
    const log = fakeLog();
    const found: Finding[] = [];
    const detector = createPortInUseDetector('grace', { log });
    void detector.start((f) => found.push(f));
    log.write({ ts: 1, event: 'bind.error', code: 'EADDRINUSE', port: 8000, msg: 'listen EADDRINUSE' });
    void detector.stop();
    assert.deepEqual(found, []);
  });

  it("reads other services' messages: Python's OSError and Windows' WinError 10048", () => {
    assert.equal(
      classifyBindLine({ text: 'OSError: [Errno 98] Address already in use: (127.0.0.1:8000)', readAt: 0 })?.port,
      8000,
    );
    assert.ok(classifyBindLine({ text: 'OSError: [WinError 10048] Only one usage of each socket address', readAt: 0 }));
    assert.equal(classifyBindLine({ text: 'listening on 8000', readAt: 0 }), undefined);
  });
});

describe('slow-boot detector', () => {
  it('reports a chunk when its budget runs out, timed from the chunk start line, and not one that ended in time', async () => {
    const log = fakeLog();
    const found: Finding[] = [];
    const detector = createSlowBootDetector({
      log,
      budgets: { bootMs: 60_000, chunkMs: 10_000, chunks: { plugins: 150, 'cache-warmup': 150 } },
    });
    void detector.start((f) => found.push(f));
    log.write({ ts: Date.now(), event: 'listening', port: 1 });
    log.write(chunk('cache-warmup', 'start'));
    log.write(chunk('cache-warmup', 'end', { durationMs: 20 }));
    log.write(chunk('plugins', 'start', { ts: Date.now() - 100 })); // read 100 ms after it was written
    await sleep(20);
    assert.equal(found.length, 0, 'cache-warmup ended in time; plugins has 30 ms to go');
    await sleep(60);
    assert.equal(found.length, 1, 'plugins reported 150 ms after its own start, not after the line was read');
    assert.equal(found[0]?.resource, 'plugins');
    assert.match(
      found[0]?.evidence ?? '',
      /boot chunk plugins has run 1\d\d ms, over its 150 ms budget \(not critical, deferrable\)/,
    );
    void detector.stop();
  });

  it('reports a chunk again while it still runs past its budget, but a critical chunk once only', async () => {
    const log = fakeLog();
    const found: Finding[] = [];
    const detector = createSlowBootDetector({
      log,
      budgets: { bootMs: 60_000, chunkMs: 10_000, chunks: { plugins: 30, databases: 30 } },
      persisting: { firstMs: 50, maxMs: 1000 },
    });
    void detector.start((f) => found.push(f));
    log.write({ ts: Date.now(), event: 'listening', port: 1 });
    log.write(chunk('databases', 'start', { critical: true, deferrable: false }));
    log.write(chunk('plugins', 'start'));
    await sleep(30 + 50 + 20);
    assert.deepEqual(
      found.map((f) => f.resource),
      ['databases', 'plugins', 'plugins'],
      'plugins again after 50 ms; databases is critical',
    );
    log.write(chunk('plugins', 'skipped'));
    await sleep(150);
    assert.equal(found.length, 3, 'nothing once the chunk ended');
    void detector.stop();
  });

  it('reports the running chunk when the whole boot runs past its budget, and nothing after boot.done', async () => {
    const log = fakeLog();
    const found: Finding[] = [];
    const detector = createSlowBootDetector({ log, budgets: { bootMs: 100, chunkMs: 10_000, chunks: {} } });
    void detector.start((f) => found.push(f));
    log.write({ ts: Date.now(), event: 'listening' });
    log.write(chunk('databases', 'start', { critical: true, deferrable: false }));
    await sleep(130);
    assert.equal(found[0]?.resource, 'databases');
    assert.match(
      found[0]?.evidence ?? '',
      /boot has run \d+ ms, over its 100 ms budget; chunk databases is running \(critical, not deferrable\)/,
    );
    log.write({ ts: Date.now(), event: 'listening' }); // a new process: a new boot
    log.write(chunk('plugins', 'start'));
    log.write({ ts: Date.now(), event: 'boot.done', durationMs: 5 });
    await sleep(130);
    assert.equal(found.length, 1);
    void detector.stop();
  });

  it('times a boot that began before the detector from the boot report, and ignores background reruns', async () => {
    const log = fakeLog();
    const found: Finding[] = [];
    const startedAt = Date.now() - 50;
    const detector = createSlowBootDetector({
      log,
      budgets: { bootMs: 60_000, chunkMs: 100, chunks: {} },
      current: async () => ({
        status: 'booting',
        startedAt,
        chunks: [
          { name: 'model-warmup', critical: false, deferrable: false, state: 'running', background: false, startedAt },
        ],
      }),
    });
    void detector.start((f) => found.push(f));
    log.write(chunk('plugins', 'start', { background: true }));
    await sleep(90);
    assert.deepEqual(
      found.map((f) => f.resource),
      ['model-warmup'],
    );
    void detector.stop();
  });
});

describe('model-server-down detector', () => {
  it('reports an unexpected exit at once, and not one Guardian asked for', () => {
    const process = new EventEmitter();
    const found: Finding[] = [];
    const detector = createModelServerDownDetector({
      name: 'ollama',
      probe: async () => ({ ok: true, version: '1' }),
      process,
      intervalMs: 60_000,
    });
    void detector.start((f) => found.push(f));
    process.emit('exit', undefined, 'SIGKILL', false);
    process.emit('exit', 0, undefined, true);
    assert.deepEqual(
      found.map((f) => f.evidence),
      ['ollama exited (signal SIGKILL)'],
    );
    void detector.stop();
  });

  it('counts connection refused at once, a timeout only twice in a row, and then backs off while the server stays down', async () => {
    const results: ApiProbe[] = [
      { ok: false, code: 'ETIMEDOUT', message: 'no answer within 2000 ms' },
      { ok: true, version: '1' },
      { ok: false, code: 'ETIMEDOUT', message: 'no answer' },
      { ok: false, code: 'ETIMEDOUT', message: 'no answer' },
    ];
    let i = 0;
    const found: Finding[] = [];
    const detector = createModelServerDownDetector({
      name: 'ollama',
      probe: async () => results[i++] ?? { ok: false, code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
      intervalMs: 10,
      recheckAfterMs: 150,
    });
    void detector.start((f) => found.push(f));
    await sleep(300);
    void detector.stop();
    assert.match(found[0]?.evidence ?? '', /ETIMEDOUT/, 'the second timeout in a row');
    // Refused on every tick (~25 ticks) after that, but reported again only after 150 ms, then 300 ms.
    assert.ok(found.length >= 2 && found.length <= 3, `${found.length} reports`);
  });

  /** A model-server-down detector whose only probes are the log's confirmations; `lines` failed model calls. */
  async function afterModelErrors(probe: ApiProbe, lines: number) {
    const log = fakeLog();
    const found: Finding[] = [];
    let probes = 0;
    const detector = createModelServerDownDetector({
      name: 'ollama',
      probe: async () => {
        probes++;
        return probe;
      },
      intervalMs: 60_000,
      log,
    });
    void detector.start((f) => found.push(f));
    for (let i = 0; i < lines; i++) {
      log.write({ ts: 9, event: 'model.error', code: 'ECONNREFUSED', msg: 'connect ECONNREFUSED' });
      await sleep(2);
    }
    await sleep(20);
    void detector.stop();
    return { found, probes };
  }

  it('opens nothing for failed model calls while its own probe of /api/version answers, probing at most ten a minute', async () => {
    const { found, probes } = await afterModelErrors({ ok: true, version: '0.5.1' }, 40);
    assert.deepEqual(found, []);
    assert.ok(probes >= 1 && probes <= 10, `${probes} probes`);
  });

  it('reports a failed model call once its own probe of /api/version fails too', async () => {
    const { found } = await afterModelErrors({ ok: false, code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 1);
    assert.deepEqual(
      found.map((f) => [f.resource, f.evidence, f.observedAt]),
      [
        [
          'ollama',
          'service log: model call failed with ECONNREFUSED; confirmed: GET /api/version: ECONNREFUSED connect ECONNREFUSED',
          9,
        ],
      ],
    );
  });

  it("reads the service's failed model calls, but not a model that is merely missing", () => {
    const line = (code: string): LogLine => ({ text: '', json: { event: 'model.error', code }, readAt: 0 });
    assert.equal(classifyModelLine(line('ECONNREFUSED')), 'ECONNREFUSED');
    assert.equal(classifyModelLine(line('ETIMEDOUT')), 'ETIMEDOUT');
    assert.equal(classifyModelLine(line('HTTP_503')), 'HTTP_503');
    assert.equal(classifyModelLine(line('HTTP_404')), undefined);
  });
});
