import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { corruptions } from '../drills/database-corruption.js';
import { createDatabaseCorruptionDetector } from '../detectors/database-corruption.js';
import { LogFindingLimit } from '../detectors/log-limit.js';
import { LogTail } from '../detectors/log-tail.js';
import { createOutOfMemoryDetector } from '../detectors/out-of-memory.js';
import type { Finding } from '../detectors/types.js';
import { parseConfig } from '../lib/config/load.js';
import { tempDir } from './helpers/fixture.js';
import { seedDatabase, sha256 } from './helpers/sqlite.js';

const tmp = tempDir();
after(() => tmp.cleanup());

async function tailOf(name: string): Promise<{ path: string; log: LogTail }> {
  const path = join(tmp.dir, `${name}.log`);
  writeFileSync(path, '');
  const log = new LogTail(path, 50);
  await log.start();
  return { path, log };
}

describe('log lines are claims, not damage', () => {
  it('an unattributed hostile line about sound databases reports nothing and changes no file', async () => {
    mkdirSync(join(tmp.dir, 'sound'));
    const databases = ['a', 'b', 'c'].map((name) => ({ name, path: join(tmp.dir, 'sound', `${name}.db`) }));
    for (const db of databases) seedDatabase(db.path, 200);
    const before = databases.map((db) => sha256(db.path));
    const { path, log } = await tailOf('hostile');
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases, log, intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    try {
      for (let i = 0; i < 20; i++) appendFileSync(path, 'SQLITE_CORRUPT: database disk image is malformed\n');
      await sleep(1500);
      assert.deepEqual(findings, []);
      assert.deepEqual(
        databases.map((db) => sha256(db.path)),
        before,
      );
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('an unattributed line about real damage reports only the damaged database', async () => {
    mkdirSync(join(tmp.dir, 'mixed'));
    const databases = ['sound', 'damaged'].map((name) => ({ name, path: join(tmp.dir, 'mixed', `${name}.db`) }));
    for (const db of databases) seedDatabase(db.path, 400);
    await corruptions['overwrite-page'](databases[1]?.path ?? '');
    const { path, log } = await tailOf('mixed');
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases, log, intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    try {
      appendFileSync(path, 'sqlite3.DatabaseError: database disk image is malformed\n');
      for (let i = 0; i < 100 && findings.length === 0; i++) await sleep(30);
      await sleep(300);
      assert.deepEqual(
        findings.map((f) => f.resource),
        ['damaged'],
      );
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('rate-limits log-driven findings per resource: a flood is a handful of findings', async () => {
    const { path, log } = await tailOf('flood');
    const findings: Finding[] = [];
    const memory = parseConfig('{}', join(tmp.dir, 'guardian.yaml')).memory;
    const detector = createOutOfMemoryDetector({
      memory,
      resource: 'grace',
      pids: () => [],
      log,
      intervalMs: 60_000,
      sample: () =>
        Promise.resolve({
          at: Date.now(),
          total: 1,
          used: 0,
          usedPercent: 10,
          swapTotal: 0,
          swapUsed: 0,
          swapPercent: 0,
          processes: [],
        }),
    });
    await detector.start((f) => findings.push(f));
    try {
      for (let i = 0; i < 200; i++) appendFileSync(path, 'MemoryError: hostile\n');
      await sleep(800);
      assert.equal(findings.length, 10, 'ten per minute, not two hundred');
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('lets findings through again once the window has passed', () => {
    const limit = new LogFindingLimit(1000, 2);
    assert.deepEqual(
      [
        limit.allow('db', 0),
        limit.allow('db', 10),
        limit.allow('db', 20),
        limit.allow('other', 20),
        limit.allow('db', 1015),
      ],
      [true, true, false, true, true],
    );
  });
});
