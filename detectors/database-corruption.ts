import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { excerpt } from '../lib/redact.js';
import { checkHeader } from '../lib/sqlite-file.js';
import { describeEvidence, type Evidence, logEvidence } from '../lib/evidence.js';
import { LogClaims } from './log-limit.js';
import type { LogTail } from './log-tail.js';
import { confirmCorruption, confirmWriteLocked } from './sqlite-confirm.js';
import type { Detector, Finding, LogLine, ReportFinding } from './types.js';

/** A guarded database as the detector needs it. */
export interface WatchedDatabase {
  readonly name: string;
  readonly path: string;
}

/** What one log line says about a database, if anything. */
export interface SqliteLogSignal {
  kind: 'corrupt' | 'busy';
  code: string;
  database?: string;
  message: string;
}

const CORRUPT =
  /database disk image is malformed|SQLITE_CORRUPT|SQLITE_NOTADB|file is not a database|SQLITE_IOERR|disk I\/O error/i;
const BUSY = /SQLITE_BUSY|SQLITE_LOCKED|database is locked|database table is locked/i;

/**
 * Classifies one line of the service's log: corruption (to confirm on the file), lock trouble
 * (to confirm if it persists), or nothing. Finds the database by the `db`/`path` fields, or by a configured name
 * or path appearing in the text.
 */
export function classifySqliteLine(line: LogLine, databases: readonly WatchedDatabase[]): SqliteLogSignal | undefined {
  const json = line.json;
  const message = typeof json?.msg === 'string' ? `${String(json.code ?? '')} ${json.msg}` : line.text;
  const kind = CORRUPT.test(message) ? 'corrupt' : BUSY.test(message) ? 'busy' : undefined;
  if (!kind) return undefined;
  const byField = databases.find((d) => d.name === json?.db || d.path === json?.path);
  const byText = byField ?? databases.find((d) => line.text.includes(d.path) || line.text.includes(d.name));
  const code = String(
    json?.code ?? /SQLITE_[A-Z_]+/.exec(message)?.[0] ?? (kind === 'busy' ? 'SQLITE_BUSY' : 'SQLITE_CORRUPT'),
  );
  return { kind, code, message: excerpt(message, 80), ...(byText ? { database: byText.name } : {}) };
}

/** Options of {@link createDatabaseCorruptionDetector}. */
export interface DatabaseCorruptionDetectorOptions {
  databases: readonly WatchedDatabase[];
  /** The guarded service's log, if it has one. */
  log?: LogTail;
  /**
   * Period of the full sweep (one stat per database), the safety net under the file watches.
   * @default 15000
   */
  intervalMs?: number;
  /** How long lock errors must persist before they count. @default 3000 */
  busyPersistMs?: number;
}

/**
 * database-corruption detector. Events first: the service's SQLite errors in its log, and file
 * watches on the databases' directories, so a changed file is checked at once and an unchanged
 * one costs nothing. A slow sweep is the safety net: a database whose file did not change since
 * its last good check costs one stat; a changed one gets a 100-byte header read and a schema
 * read. integrity_check runs only in the remediation, on suspicion.
 */
export function createDatabaseCorruptionDetector(options: DatabaseCorruptionDetectorOptions): Detector {
  const intervalMs = options.intervalMs ?? 15_000;
  const watchers: FSWatcher[] = [];
  const pending = new Map<string, NodeJS.Timeout>();
  const busyPersistMs = options.busyPersistMs ?? 3000;
  const lastGood = new Map<string, string>();
  const busySince = new Map<string, { first: number; last: number }>();
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let ticking = false;

  const claims = new LogClaims();

  const finding = (database: string, evidence: string, observedAt?: number, details?: Evidence): Finding => ({
    mode: 'database-corruption',
    resource: database,
    evidence,
    detectedAt: Date.now(),
    ...(observedAt === undefined ? {} : { observedAt }),
    ...(details ? { details } : {}),
  });

  /**
   * A log line is a claim, not damage: it asks for a look at the named database (each one, for a
   * line that names none). Only what that look confirms is reported; lock trouble must persist
   * and be seen on the file too. Looks are rate-limited per database.
   */
  function onLogLine(line: LogLine, report: ReportFinding): void {
    const signal = classifySqliteLine(line, options.databases);
    if (!signal) return;
    const lineTs = typeof line.json?.ts === 'number' ? line.json.ts : undefined;
    if (signal.kind === 'busy') {
      const db = options.databases.find((d) => d.name === signal.database);
      if (db) onBusyLine(db, signal, line, lineTs, report);
      return;
    }
    const targets = signal.database ? options.databases.filter((d) => d.name === signal.database) : options.databases;
    for (const db of targets) {
      claims.check(
        db.name,
        () => confirmCorruption(db.path),
        (damage) => {
          lastGood.delete(db.name);
          const details = logEvidence(line, { code: signal.code, database: db.name });
          report(
            finding(
              db.name,
              `${describeEvidence(details)}; confirmed: ${damage.code} ${damage.problem}`,
              lineTs,
              details,
            ),
          );
        },
      );
    }
  }

  function onBusyLine(
    db: WatchedDatabase,
    signal: SqliteLogSignal,
    line: LogLine,
    lineTs: number | undefined,
    report: ReportFinding,
  ): void {
    const now = Date.now();
    const seen = busySince.get(db.name);
    if (!seen || now - seen.last > 2 * busyPersistMs) {
      busySince.set(db.name, { first: now, last: now });
      return;
    }
    seen.last = now;
    if (now - seen.first < busyPersistMs || !confirmWriteLocked(db.path) || !claims.limit.allow(db.name)) return;
    const details = logEvidence(line, { code: signal.code, database: db.name });
    report(
      finding(
        db.name,
        `${describeEvidence(details)} for ${Math.round((now - seen.first) / 1000)} s; the write lock is held`,
        lineTs,
        details,
      ),
    );
  }

  async function checkOne(db: WatchedDatabase, report: ReportFinding): Promise<void> {
    let signature: string;
    try {
      const s = await stat(db.path);
      signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      report(finding(db.name, `${db.path} is missing`));
      return;
    }
    if (lastGood.get(db.name) === signature) return;
    const header = await checkHeader(db.path);
    if (!header.ok && header.code !== 'EMPTY') {
      lastGood.delete(db.name);
      report(finding(db.name, `${header.code}: ${header.problem}`));
      return;
    }
    const problem = readSchema(db.path);
    if (problem) {
      lastGood.delete(db.name);
      report(finding(db.name, problem));
      return;
    }
    lastGood.set(db.name, signature);
  }

  return {
    name: 'database-corruption',
    start(report) {
      unsubscribe = options.log?.onLine((line) => onLogLine(line, report));
      // One watcher per directory: a change names its file, and only that database is checked.
      const byFile = new Map(options.databases.map((db) => [db.path, db]));
      for (const dir of new Set(options.databases.map((db) => dirname(db.path)))) {
        try {
          const watcher = watch(dir, { persistent: false }, (_event, file) => {
            if (!file) return;
            const db = byFile.get(`${dir}/${String(file).replace(/-(wal|shm|journal)$/, '')}`);
            if (!db || pending.has(db.name)) return;
            // Coalesce a burst of writes into one check.
            pending.set(
              db.name,
              setTimeout(() => {
                pending.delete(db.name);
                void checkOne(db, report).catch(() => undefined);
              }, 20),
            );
          });
          watcher.on('error', () => watcher.close());
          watchers.push(watcher);
        } catch {
          // A directory that does not exist yet is covered by the sweep.
        }
      }
      const sweep = () => {
        if (ticking) return;
        ticking = true;
        void Promise.all(options.databases.map((db) => checkOne(db, report).catch(() => undefined))).finally(() => {
          ticking = false;
        });
      };
      sweep();
      timer = setInterval(sweep, intervalMs);
      timer.unref();
    },
    stop() {
      unsubscribe?.();
      if (timer) clearInterval(timer);
      for (const watcher of watchers) watcher.close();
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}

/** Opens read-only and reads the schema: constant cost; returns the problem, if any. */
function readSchema(path: string): string | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 200 });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'SQLITE_ERROR';
    // A lock or a busy WAL is not corruption: the log path judges whether it persists.
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === 'SQLITE_CANTOPEN')
      return undefined;
    return `${code}: ${(err as Error).message}`;
  } finally {
    db?.close();
  }
}
