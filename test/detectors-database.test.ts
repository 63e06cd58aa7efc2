import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { corruptions } from '../drills/database-corruption.js';
import { classifySqliteLine, createDatabaseCorruptionDetector } from '../detectors/database-corruption.js';
import { LogTail } from '../detectors/log-tail.js';
import type { Finding } from '../detectors/types.js';
import { checkHeader } from '../lib/sqlite-file.js';
import { tempDir } from './helpers/fixture.js';
import { seedDatabase } from './helpers/sqlite.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const databases = [
  { name: 'world_model', path: join(tmp.dir, 'data', 'world_model.db') },
  { name: 'metrics', path: join(tmp.dir, 'data', 'metrics.db') },
];
mkdirSync(join(tmp.dir, 'data'));
for (const db of databases) seedDatabase(db.path, 50);

async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('classifySqliteLine', () => {
  it('maps a JSON sqlite.error line to its database by the db field', () => {
    const json = {
      event: 'sqlite.error',
      db: 'metrics',
      code: 'SQLITE_CORRUPT',
      msg: 'database disk image is malformed',
    };
    const signal = classifySqliteLine({ text: JSON.stringify(json), json, readAt: 0 }, databases);
    assert.deepEqual(signal && { kind: signal.kind, database: signal.database, code: signal.code }, {
      kind: 'corrupt',
      database: 'metrics',
      code: 'SQLITE_CORRUPT',
    });
  });

  it('finds the database by its path in a plain-text line', () => {
    const text = `sqlite3.DatabaseError: file is not a database: ${databases[0]?.path}`;
    assert.equal(classifySqliteLine({ text, readAt: 0 }, databases)?.database, 'world_model');
  });

  it('tells lock trouble from corruption and ignores unrelated lines', () => {
    assert.equal(classifySqliteLine({ text: 'database is locked (metrics)', readAt: 0 }, databases)?.kind, 'busy');
    assert.equal(classifySqliteLine({ text: 'GET /world 200 3ms', readAt: 0 }, databases), undefined);
  });
});

describe('checkHeader', () => {
  it('accepts a sound file and names a destroyed header and a truncated file', async () => {
    const path = join(tmp.dir, 'header.db');
    seedDatabase(path, 500);
    assert.equal((await checkHeader(path)).ok, true);
    await corruptions.truncate(path);
    assert.equal((await checkHeader(path)).code, 'SQLITE_CORRUPT');
    await corruptions['destroy-header'](path);
    assert.equal((await checkHeader(path)).code, 'SQLITE_NOTADB');
  });
});

describe('database-corruption detector', () => {
  it('reports a corruption line only once a look at the named database confirms it', async () => {
    const dir = join(tmp.dir, 'confirm');
    mkdirSync(dir);
    const own = [
      { name: 'sound', path: join(dir, 'sound.db') },
      { name: 'damaged', path: join(dir, 'damaged.db') },
    ];
    for (const db of own) seedDatabase(db.path, 400);
    const logPath = join(dir, 'service.log');
    writeFileSync(logPath, '{"msg":"old line: database disk image is malformed","db":"damaged"}\n');
    const log = new LogTail(logPath, 200);
    await log.start();
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases: own, log, intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    const line = (db: string) =>
      `${JSON.stringify({ ts: Date.now(), event: 'sqlite.error', db, code: 'SQLITE_CORRUPT', msg: 'database disk image is malformed' })}\n`;
    try {
      appendFileSync(logPath, line('sound'));
      await sleep(500);
      assert.equal(findings.length, 0, 'a claim about a sound database is not an incident');
      await corruptions['overwrite-page'](own[1]?.path ?? '');
      await sleep(100);
      assert.equal(findings.length, 0, 'the damage is one only quick_check sees');
      appendFileSync(logPath, line('damaged'));
      await until(() => findings.length > 0, 5000);
      assert.equal(findings[0]?.resource, 'damaged');
      assert.match(findings[0]?.evidence ?? '', /confirmed: SQLITE_CORRUPT quick_check/);
      assert.deepEqual(
        {
          code: findings[0]?.details?.code,
          database: findings[0]?.details?.database,
          line: findings[0]?.details?.line,
        },
        { code: 'SQLITE_CORRUPT', database: 'damaged', line: 3 },
      );
      assert.equal(findings.length, 1, 'lines written before start are history, not findings');
    } finally {
      await detector.stop();
      log.stop();
    }
  });

  it('reports lock errors only once they persist and the write lock is really held', async () => {
    const logPath = join(tmp.dir, 'busy.log');
    writeFileSync(logPath, '');
    const log = new LogTail(logPath, 100);
    await log.start();
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases, log, intervalMs: 60_000, busyPersistMs: 300 });
    await detector.start((f) => findings.push(f));
    const busyLines = async () => {
      for (let i = 0; i < 5; i++) {
        appendFileSync(logPath, '{"db":"metrics","code":"SQLITE_BUSY","msg":"database is locked"}\n');
        await sleep(120);
      }
    };
    const holder = new Database(databases[1]?.path ?? '');
    try {
      appendFileSync(logPath, '{"db":"metrics","code":"SQLITE_BUSY","msg":"database is locked"}\n');
      await sleep(150);
      assert.equal(findings.length, 0, 'one lock error is not an incident');
      await busyLines();
      await sleep(300);
      assert.equal(findings.length, 0, 'lines that persist while nobody holds the lock are not an incident');
      await sleep(700);
      holder.exec('BEGIN IMMEDIATE');
      await busyLines();
      await until(() => findings.length > 0);
      assert.match(findings[0]?.evidence ?? '', /SQLITE_BUSY.*the write lock is held/);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
      await detector.stop();
      log.stop();
    }
  });

  it('checks a database as soon as its file changes, without waiting for the sweep', async () => {
    const path = join(tmp.dir, 'watched.db');
    seedDatabase(path, 300);
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases: [{ name: 'watched', path }], intervalMs: 60_000 });
    await detector.start((f) => findings.push(f));
    try {
      await sleep(200);
      assert.equal(findings.length, 0);
      const started = Date.now();
      await corruptions.truncate(path);
      await until(() => findings.length > 0, 2000);
      assert.ok(Date.now() - started < 1000, 'found through the file watch, long before the 60 s sweep');
      assert.match(findings[0]?.evidence ?? '', /truncated/);
    } finally {
      await detector.stop();
    }
  });

  it('finds a destroyed header on its tick, and costs one stat per unchanged database', async () => {
    const path = join(tmp.dir, 'ticked.db');
    seedDatabase(path, 300);
    const findings: Finding[] = [];
    const detector = createDatabaseCorruptionDetector({ databases: [{ name: 'ticked', path }], intervalMs: 50 });
    await detector.start((f) => findings.push(f));
    try {
      await sleep(200);
      assert.equal(findings.length, 0, 'a sound database is not reported');
      await corruptions['destroy-header'](path);
      await until(() => findings.length > 0);
      assert.match(findings[0]?.evidence ?? '', /SQLITE_NOTADB/);
    } finally {
      await detector.stop();
    }
  });
});
