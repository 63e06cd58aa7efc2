import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Detector, ReportFinding } from '../detectors/types.js';
import { writeFileAtomic } from './atomic-file.js';
import { type SqliteThread, SqliteThreadError, sqliteThreads } from './sqlite-offload.js';

const SAVE_EVERY_MS = 5000;

/** The last scrub of one database, as `guardian status` shows it. */
export interface ScrubRecord {
  lastCheckAt: number;
  /** When quick_check last found nothing wrong. */
  lastCleanAt?: number;
  /** What the last check found (empty when clean). */
  problems: string[];
  size: number;
  cpuMs: number;
}

/** Options of {@link createDatabaseScrub}. */
export interface ScrubOptions {
  databases: readonly { readonly name: string; readonly path: string }[];
  /** Where `scrub.json` (the last check of each database) is kept. */
  stateDir: string;
  /** Share of one core the scrub may use, in percent. @default 2 */
  cpuPercent?: number;
  /** Shortest pause between two checks (ms), however cheap they were. @default 100 */
  minPauseMs?: number;
  /** @default sqliteThreads.background */
  thread?: SqliteThread;
}

/** What the scrub has cost since it started. */
export interface ScrubStats {
  checks: number;
  cpuMs: number;
  startedAt: number;
}

/** A detector that is also asked for its cost. */
export interface DatabaseScrub extends Detector {
  stats(): ScrubStats;
}

async function identity(path: string): Promise<{ ino: number; size: number } | undefined> {
  try {
    const st = await stat(path);
    return { ino: st.ino, size: st.size };
  } catch {
    return undefined;
  }
}

/** Path of the scrub's record of last checks. */
export function scrubRecordPath(stateDir: string): string {
  return join(stateDir, 'scrub.json');
}

/** The last scrub of each database, by name (empty when none ran yet). */
export function readScrubRecords(stateDir: string): Record<string, ScrubRecord> {
  try {
    return JSON.parse(readFileSync(scrubRecordPath(stateDir), 'utf8')) as Record<string, ScrubRecord>;
  } catch {
    return {};
  }
}

/**
 * The background scrub: quick_checks every guarded database in turn on the SQLite thread, so
 * damage in pages the service never reads is found without waiting for the next backup. After
 * each check it pauses for the check's CPU time divided by the budget, so it uses at most
 * `cpuPercent` of one core: 1 GB takes about 0.5 s of CPU here, so at 2 % every database of a
 * 1 GB total is checked within about 25 s; beyond that, the period grows with the size. A
 * problem is reported as a database-corruption finding, like the detector's own.
 */
export function createDatabaseScrub(options: ScrubOptions): DatabaseScrub {
  const budget = (options.cpuPercent ?? 2) / 100;
  const minPauseMs = options.minPauseMs ?? 100;
  const thread = options.thread ?? sqliteThreads.background;
  const records = readScrubRecords(options.stateDir);
  const stats: ScrubStats = { checks: 0, cpuMs: 0, startedAt: Date.now() };
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;
  let next = 0;
  let savedAt = 0;

  /** Writes scrub.json at most every few seconds (and at once on a problem): one fsync per check would cost more than the check. */
  async function save(force: boolean): Promise<void> {
    if (!force && Date.now() - savedAt < SAVE_EVERY_MS) return;
    savedAt = Date.now();
    await writeFileAtomic(scrubRecordPath(options.stateDir), JSON.stringify(records, null, 2)).catch(() => undefined);
  }

  async function checkOne(db: { name: string; path: string }, report: ReportFinding): Promise<number> {
    const before = await identity(db.path);
    if (!before) return 0; // a missing file is the detector's finding, not the scrub's
    const at = Date.now();
    let problems: string[];
    let cpuMs: number;
    try {
      const measured = await thread.run<string[]>({ op: 'check', path: db.path, kind: 'quick', limit: 5 });
      problems = measured.result;
      cpuMs = measured.cpuMs;
    } catch (err) {
      const code = err instanceof SqliteThreadError ? err.code : '';
      // Locks and a file being replaced are not damage; stopping the thread is not either.
      if (!code || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === 'SQLITE_CANTOPEN')
        return 0;
      problems = [`${code}: ${(err as Error).message}`];
      cpuMs = Date.now() - at;
    }
    const foundAt = Date.now();
    // A file replaced while it was checked (a restore renamed a backup over it): the verdict is of the old one.
    if (problems.length > 0 && (await identity(db.path))?.ino !== before.ino) return cpuMs;
    const size = before.size;
    stats.checks++;
    stats.cpuMs += cpuMs;
    const previous = records[db.name];
    records[db.name] = {
      lastCheckAt: at,
      ...(problems.length === 0
        ? { lastCleanAt: at }
        : previous?.lastCleanAt
          ? { lastCleanAt: previous.lastCleanAt }
          : {}),
      problems,
      size,
      cpuMs: Math.round(cpuMs),
    };
    await save(problems.length > 0 || previous?.lastCleanAt === undefined);
    if (problems.length > 0 && !stopped) {
      report({
        mode: 'database-corruption',
        resource: db.name,
        evidence: `scrub: quick_check found ${problems.slice(0, 2).join('; ')}`,
        detectedAt: foundAt,
      });
    }
    return cpuMs;
  }

  function schedule(report: ReportFinding, delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      const db = options.databases[next++ % options.databases.length];
      if (!db) return;
      const started = Date.now();
      void checkOne(db, report)
        .catch(() => 0)
        .then((cpuMs) => schedule(report, Math.max(minPauseMs, cpuMs / budget - (Date.now() - started))));
    }, delayMs);
    timer.unref();
  }

  return {
    name: 'database-scrub',
    start(report) {
      if (options.databases.length === 0 || budget <= 0) return;
      stopped = false;
      stats.startedAt = Date.now();
      schedule(report, minPauseMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await save(true);
    },
    stats: () => ({ ...stats }),
  };
}
