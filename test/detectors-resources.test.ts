import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { classifyDiskLine, createDiskFullDetector } from '../detectors/disk-full.js';
import { LogTail } from '../detectors/log-tail.js';
import { classifyConfigLine, createMissingConfigDetector } from '../detectors/missing-config.js';
import { classifyMemoryLine, createOutOfMemoryDetector } from '../detectors/out-of-memory.js';
import type { Finding } from '../detectors/types.js';
import { diskSchema, memorySchema, watchedConfigSchema } from '../lib/config/resources.js';
import { inspectConfigFile } from '../lib/config-files.js';
import { freeBytes } from '../lib/disk.js';
import { memoryProblems, type MemorySample } from '../lib/memory.js';
import { tempDir } from './helpers/fixture.js';

const root = new URL('../', import.meta.url).pathname;
const tmp = tempDir();
after(() => tmp.cleanup());
const line = (json: Record<string, unknown>) => ({ text: JSON.stringify(json), json, readAt: Date.now() });

async function until(findings: Finding[], count = 1, ms = 3000): Promise<void> {
  for (let waited = 0; findings.length < count && waited < ms; waited += 10) await sleep(10);
}

describe('service log lines (docs/contract.md examples)', () => {
  it('reads write.error ENOSPC and SQLITE_FULL as a full disk, and nothing else', () => {
    assert.deepEqual(
      classifyDiskLine(
        line({
          event: 'write.error',
          code: 'ENOSPC',
          path: '/srv/grace/databases/metrics.db',
          msg: 'No space left on device',
        }),
      ),
      {
        code: 'ENOSPC',
        path: '/srv/grace/databases/metrics.db',
        message: 'No space left on device',
      },
    );
    assert.equal(
      classifyDiskLine(line({ event: 'sqlite.error', code: 'SQLITE_FULL', msg: 'database or disk is full' }))?.code,
      'SQLITE_FULL',
    );
    assert.equal(classifyDiskLine(line({ event: 'write.error', code: 'EROFS', msg: 'read-only' })), undefined);
    assert.equal(
      classifyDiskLine({ text: 'Error: ENOSPC: no space left on device, write', readAt: 0 })?.code,
      'ENOSPC',
    );
  });

  it('reads memory.error, ENOMEM and a V8 heap failure as running out of memory', () => {
    assert.match(
      classifyMemoryLine(
        line({
          event: 'memory.error',
          requestedMb: 20,
          msg: 'MemoryError: low-memory mode refuses allocations over 16 MB',
        }),
      ) ?? '',
      /MemoryError/,
    );
    assert.ok(
      classifyMemoryLine({
        text: 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
        readAt: 0,
      }),
    );
    assert.ok(classifyMemoryLine(line({ event: 'process.error', code: 'ENOMEM', msg: 'spawn ENOMEM' })));
    assert.equal(classifyMemoryLine(line({ event: 'request', msg: 'ok' })), undefined);
  });

  it('reads config.error with its path and reason', () => {
    assert.deepEqual(
      classifyConfigLine(line({ event: 'config.error', path: '/h/config/p.yaml', reason: 'missing', msg: 'ENOENT' })),
      {
        path: '/h/config/p.yaml',
        reason: 'missing',
        message: 'ENOENT',
      },
    );
    assert.equal(classifyConfigLine(line({ event: 'config.loaded', path: '/x' })), undefined);
  });
});

describe('memory thresholds', () => {
  const sample = (over: Partial<MemorySample>): MemorySample => ({
    at: 0,
    total: 100,
    used: 50,
    usedPercent: 50,
    swapTotal: 0,
    swapUsed: 0,
    swapPercent: 0,
    processes: [],
    ...over,
  });
  const limits = memorySchema.parse({ rss: '100MB' });

  it('flags system memory over 95 %, heavy swap and a process over its RSS limit; ignores swap when there is none', () => {
    assert.deepEqual(memoryProblems(sample({}), limits), []);
    assert.match(memoryProblems(sample({ usedPercent: 96 }), limits)[0] ?? '', /system memory 96\.0%/);
    assert.match(
      memoryProblems(sample({ swapTotal: 10, swapUsed: 9, swapPercent: 90 }), limits)[0] ?? '',
      /swap 90\.0%/,
    );
    assert.match(
      memoryProblems(sample({ processes: [{ pid: 7, rss: 200 * 1048576 }] }), limits)[0] ?? '',
      /pid 7 RSS 200 MB over the 100 MB limit/,
    );
    assert.equal(memorySchema.parse({}).rss, 4 * 1024 ** 3, 'the default RSS limit is 4 GB');
  });

  it('reports a sample over the limit, and a MemoryError line only when a measurement confirms it', async () => {
    const logFile = join(tmp.dir, 'oom.log');
    writeFileSync(logFile, '');
    const log = new LogTail(logFile, 50);
    await log.start();
    let rss = 10;
    const findings: Finding[] = [];
    const detector = createOutOfMemoryDetector({
      memory: memorySchema.parse({ rss: 100 }),
      resource: 'grace',
      pids: () => [1],
      log,
      intervalMs: 20,
      sample: async () => sample({ processes: [{ pid: 1, rss }] }),
    });
    await detector.start((f) => findings.push(f));
    await sleep(80);
    assert.equal(findings.length, 0);
    rss = 1000;
    await until(findings);
    assert.match(findings[0]?.evidence ?? '', /RSS/);
    rss = 10;
    await sleep(60); // the tick's findings of rss 1000 are in
    const seen = findings.length;
    appendFileSync(logFile, `${JSON.stringify({ ts: 1, event: 'memory.error', msg: 'MemoryError: budget' })}\n`);
    await sleep(200);
    assert.equal(findings.length, seen, 'memory measures fine: the line alone is no finding');
    await detector.stop();
    log.stop();
  });
});

describe('disk-full detector', () => {
  it('notices a write in a guarded directory that takes free space under the threshold, without waiting for its poll', async () => {
    const dir = join(tmp.dir, 'disk', 'logs');
    mkdirSync(dir, { recursive: true });
    const minFree = freeBytes(dir).free - 16 * 1048576;
    const disk = diskSchema.parse({ minFree, logs: { dirs: [dir] } });
    const findings: Finding[] = [];
    const detector = createDiskFullDetector({ disk, intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    assert.equal(findings.length, 0);
    writeFileSync(join(dir, 'big.log'), Buffer.alloc(48 * 1048576, 1));
    await until(findings);
    assert.match(findings[0]?.evidence ?? '', /under the .* threshold/);
    await detector.stop();
    rmSync(join(dir, 'big.log'));
  });

  /** A disk-full detector on a real directory whose log gets `lines` ENOSPC lines; counts its statfs calls. */
  async function afterEnospcLines(name: string, minFree: (free: number) => number, lines: number) {
    const dir = join(tmp.dir, 'disk-claims', name);
    mkdirSync(dir, { recursive: true });
    const logFile = join(tmp.dir, `${name}.log`);
    writeFileSync(logFile, '');
    const log = new LogTail(logFile, 50);
    await log.start();
    const disk = diskSchema.parse({ minFree: minFree(freeBytes(dir).free), logs: { dirs: [dir] } });
    let measured = 0;
    const freeSpace = (mount: string) => {
      measured++;
      return freeBytes(mount).free;
    };
    const findings: Finding[] = [];
    const detector = createDiskFullDetector({ disk, log, intervalMs: 60_000, freeSpace });
    await detector.start((f) => findings.push(f));
    const atStart = measured;
    const say = `${JSON.stringify({ ts: 7, event: 'write.error', code: 'ENOSPC', path: join(dir, 'x'), msg: 'No space left on device' })}\n`;
    for (let i = 0; i < lines; i++) {
      appendFileSync(logFile, say);
      if (i % 5 === 0) await sleep(15);
    }
    await sleep(400);
    await detector.stop();
    log.stop();
    return { findings: findings.filter((f) => f.evidence.startsWith('service log:')), checks: measured - atStart };
  }

  it('opens nothing for ENOSPC lines while the filesystem has room, and measures it at most ten times a minute', async () => {
    const { findings, checks } = await afterEnospcLines('roomy', () => 1, 40);
    assert.deepEqual(findings, []);
    assert.ok(checks >= 1 && checks <= 10, `free space was measured ${checks} times`);
  });

  it('reports an ENOSPC line with the measurement that confirms free space is under the threshold', async () => {
    const { findings } = await afterEnospcLines('short', (free) => free + 1024 ** 4, 1);
    assert.equal(findings.length, 1);
    assert.match(
      findings[0]?.evidence ?? '',
      /^service log: ENOSPC .*; confirmed: \d+ bytes free on .*, under the \d+ threshold$/,
    );
    assert.equal(findings[0]?.observedAt, 7);
  });
});

describe('missing-config detector', () => {
  const dir = join(tmp.dir, 'cfg');
  const path = join(dir, 'governance_policies.yaml');
  const config = watchedConfigSchema.parse({
    name: 'governance_policies',
    path,
    schema: join(root, 'examples/grace/policies/governance_policies.schema.json'),
  });

  it('reports a deleted file, a syntax error, a schema violation and a directory within moments, and keeps each valid version', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, readFileSync(join(root, 'examples/grace/policies/governance_policies.defaults.yaml')));
    const findings: Finding[] = [];
    const valid: Buffer[] = [];
    const detector = createMissingConfigDetector({
      configs: [config],
      intervalMs: 60_000,
      settleMs: 300,
      onValid: (_c, bytes) => valid.push(bytes),
    });
    await detector.start((f) => findings.push(f));
    assert.equal(findings.length, 0);
    assert.equal(valid.length, 1, 'the valid file was offered for keeping');
    for (const [breakIt, expected] of [
      [() => rmSync(path), /^missing/],
      [() => writeFileSync(path, 'version: 1\npolicies: [\n'), /^parse/],
      [
        () => writeFileSync(path, 'version: 1\npolicies: []\nlimits: { maxConcurrency: 0, cacheEntries: 1 }\n'),
        /^invalid: limits\.maxConcurrency/,
      ],
      [
        () => {
          rmSync(path);
          mkdirSync(path);
        },
        /^not-a-file/,
      ],
    ] as const) {
      const before = findings.length;
      const at = Date.now();
      breakIt();
      await until(findings, before + 1, 2000);
      assert.match(findings.at(-1)?.evidence ?? '', expected);
      assert.ok(
        (findings.at(-1)?.detectedAt ?? Infinity) - at < 1000,
        'seen through the directory watch, not the minute-long poll',
      );
      rmSync(path, { recursive: true, force: true });
      writeFileSync(
        path,
        `version: 1\npolicies: []\nlimits: { maxConcurrency: ${findings.length + 1}, cacheEntries: 1 }\n`,
      );
      await sleep(100);
    }
    assert.ok(valid.length >= 4, 'each new valid content was offered for keeping');
    await detector.stop();
  });
});

describe('config file verdicts', () => {
  it('never quotes the file in a JSON parse problem, since that becomes workflow input', () => {
    const file = join(tmp.dir, 'credentials.json');
    for (const text of ['{"api_key": sk-live-0123456789}', 'sk-live-0123456789']) {
      writeFileSync(file, text);
      const verdict = inspectConfigFile({}, file);
      assert.equal(verdict.state, 'parse');
      assert.doesNotMatch(verdict.problem ?? '', /sk-live|api_key/);
      assert.match(verdict.problem ?? '', /JSON/);
    }
  });
});

describe("Guardian's copy of the demo's config rules", () => {
  it('ships defaults equal to the demo service’s embedded defaults', async () => {
    const grace = (await import(join(root, 'examples/grace/lib/config.mjs'))) as { DEFAULT_CONFIG: unknown };
    assert.deepEqual(
      parse(readFileSync(join(root, 'examples/grace/policies/governance_policies.defaults.yaml'), 'utf8')),
      grace.DEFAULT_CONFIG,
    );
  });

  it('judges documents as the demo service does', async () => {
    const grace = (await import(join(root, 'examples/grace/lib/config.mjs'))) as {
      validateConfig: (doc: unknown) => unknown;
    };
    const config = { schema: join(root, 'examples/grace/policies/governance_policies.schema.json') };
    const docs = [
      'version: 1\npolicies: []\nlimits: { maxConcurrency: 4, cacheEntries: 0 }\n',
      'version: 2\npolicies: []\nlimits: { maxConcurrency: 4, cacheEntries: 0 }\n',
      'version: 1\npolicies: [{ name: x }]\nlimits: { maxConcurrency: 4, cacheEntries: 0 }\n',
      'version: 1\npolicies: []\nlimits: { maxConcurrency: 2000, cacheEntries: 0 }\n',
      'version: 1\npolicies: []\nlimits: { maxConcurrency: 4, cacheEntries: 0 }\nendpoints: { a: { url: ftp://x } }\n',
      'version: 1\npolicies: []\nlimits: { maxConcurrency: 4, cacheEntries: 0 }\nai: { timeoutMs: 0 }\n',
      'version: 1\npolicies: []\n',
      '',
    ];
    for (const [i, text] of docs.entries()) {
      const file = join(tmp.dir, `doc-${i}.yaml`);
      writeFileSync(file, text);
      let graceOk = true;
      try {
        grace.validateConfig(parse(text));
      } catch {
        graceOk = false;
      }
      assert.equal(inspectConfigFile(config, file).state === 'ok', graceOk, `document ${i}: ${text}`);
    }
  });
});
