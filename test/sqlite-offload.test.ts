import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupKeeper } from '../lib/backup-keeper.js';
import { backupDir, listBackups, quickCheck, takeBackup } from '../lib/backups.js';
import { createLogger } from '../lib/logger.js';
import { createDatabaseScrub, readScrubRecords } from '../lib/scrub.js';
import { sqliteThreads } from '../lib/sqlite-offload.js';
import { copyFileVerified } from '../lib/files.js';
import { digestFile } from '../lib/hash.js';
import { damageColdPage, growDatabase } from '../drills/database-size.js';
import type { Finding } from '../detectors/types.js';
import { tempDir } from './helpers/fixture.js';

const tmp = tempDir();
const db = { name: 'grown', path: join(tmp.dir, 'grown.db') };
const stateDir = join(tmp.dir, 'state');
const logger = createLogger('test');

before(() => growDatabase(db.path, 48 * 2 ** 20));
after(() => tmp.cleanup());

describe('copies of large files', () => {
  it('hashes while copying, reports progress, and the digest names the copy', async () => {
    let bytes = 0;
    let calls = 0;
    const copy = join(tmp.dir, 'copy.db');
    const digest = await copyFileVerified(db.path, copy, undefined, (n) => {
      bytes += n;
      calls++;
    });
    const expected = createHash('sha256').update(readFileSync(db.path)).digest('hex');
    assert.equal(digest.sha256, expected);
    assert.deepEqual(await digestFile(copy), digest);
    assert.ok(calls >= 20, `progress after each chunk (${calls} calls)`);
    assert.equal(bytes, 2 * digest.size, 'the copy and the read-back are both counted');
  });
});

describe('SQLite off the main thread', () => {
  it('runs quick_check on its own thread while the event loop keeps ticking', async () => {
    let worstGap = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
    }, 5);
    try {
      const started = performance.now();
      const { result, cpuMs } = await sqliteThreads.heal.run<string[]>({
        op: 'check',
        path: db.path,
        kind: 'integrity',
        limit: 5,
      });
      assert.deepEqual(result, []);
      assert.ok(cpuMs > 0, 'the thread reports what the check cost');
      const wall = performance.now() - started;
      // On the main thread the loop would stall for the whole check; allow for a busy shared machine.
      assert.ok(
        worstGap < Math.min(250, wall / 4),
        `event loop stalled ${worstGap.toFixed(1)} ms during a ${wall.toFixed(0)} ms check`,
      );
    } finally {
      clearInterval(ticker);
    }
  });

  it('fails a cancelled call at once and lets the thread finish its statement instead of killing it', async () => {
    const controller = new AbortController();
    const running = sqliteThreads.heal.run({ op: 'check', path: db.path, kind: 'integrity', limit: 5 }, controller);
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 20);
    await assert.rejects(running, /cancelled by the test/);
    const { result } = await sqliteThreads.heal.run<string[]>({ op: 'check', path: db.path, kind: 'quick', limit: 1 });
    assert.deepEqual(result, [], 'a new thread answers the next call');
  });

  it('reports SQLite error codes from the thread', async () => {
    await assert.rejects(
      sqliteThreads.heal.run({ op: 'check', path: join(tmp.dir, 'missing.db'), kind: 'quick', limit: 1 }),
      (err: Error & { code?: string }) => err.code === 'SQLITE_CANTOPEN',
    );
  });
});

describe('backups in slices', () => {
  it('takes a verified backup in many short slices and leaves nothing beside it', async () => {
    const pages: number[] = [];
    const info = await takeBackup(db, stateDir, 2, Date.now(), { sliceMs: 1, onProgress: (done) => pages.push(done) });
    assert.ok(info.copy.slices >= 5, `${info.copy.slices} slices`);
    assert.equal(pages.length, info.copy.slices);
    const names = readdirSync(backupDir(stateDir, db.name));
    assert.deepEqual(
      names.filter((n) => n.includes('partial') || n.endsWith('-wal') || n.endsWith('-shm')),
      [],
      `only finished backups remain: ${names.join(', ')}`,
    );
    assert.deepEqual(quickCheck(info.path), []);
  });

  it('removes the .partial a killed Guardian left, when the keeper starts', async () => {
    const dir = backupDir(stateDir, db.name);
    for (const leftover of ['1.db.partial', '1.db.partial-wal', '1.db.partial-shm'])
      writeFileSync(join(dir, leftover), 'x');
    const keeper = new BackupKeeper([{ ...db, backups: { every: 3_600_000, keep: 2 } }], stateDir, logger);
    keeper.start();
    keeper.stop();
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('partial')),
      [],
    );
    assert.ok(listBackups(stateDir, db.name).length >= 1, 'finished backups are kept');
  });
});

describe('background scrub', () => {
  it('finds damage in a page no query reads, reports it, and records the last clean check', async () => {
    const cold = { name: 'cold', path: join(tmp.dir, 'cold.db') };
    growDatabase(cold.path, 8 * 2 ** 20);
    const scrubState = join(tmp.dir, 'scrub-state');
    const findings: Finding[] = [];
    const scrub = createDatabaseScrub({ databases: [cold], stateDir: scrubState, cpuPercent: 50, minPauseMs: 20 });
    await scrub.start((f) => findings.push(f));
    try {
      for (let i = 0; i < 200 && !readScrubRecords(scrubState).cold?.lastCleanAt; i++) await sleep(20);
      const clean = readScrubRecords(scrubState).cold;
      assert.ok(clean?.lastCleanAt, 'a clean check was recorded');
      assert.equal(findings.length, 0);
      await damageColdPage(cold.path);
      for (let i = 0; i < 300 && findings.length === 0; i++) await sleep(20);
      assert.equal(findings[0]?.mode, 'database-corruption');
      assert.equal(findings[0]?.resource, 'cold');
      assert.match(findings[0]?.evidence ?? '', /scrub: quick_check found/);
      const record = readScrubRecords(scrubState).cold;
      assert.ok((record?.problems.length ?? 0) > 0);
      assert.equal(record?.lastCleanAt, clean.lastCleanAt, 'the last clean check stays the one before the damage');
    } finally {
      await scrub.stop();
    }
    const { checks, cpuMs } = scrub.stats();
    assert.ok(checks >= 2 && cpuMs > 0);
  });

  it('keeps to its CPU budget', async () => {
    const scrubState = join(tmp.dir, 'budget-state');
    const scrub = createDatabaseScrub({ databases: [db], stateDir: scrubState, cpuPercent: 10, minPauseMs: 1 });
    const started = Date.now();
    await scrub.start(() => undefined);
    await sleep(3000);
    await scrub.stop();
    const { checks, cpuMs } = scrub.stats();
    const share = cpuMs / (Date.now() - started);
    assert.ok(checks >= 1, 'it checked');
    // One check may overrun the window it starts in; over a few the share settles near the budget.
    assert.ok(share < 0.1 * 1.8, `scrub used ${(share * 100).toFixed(1)} % of a core over 3 s (budget 10 %)`);
  });
});
