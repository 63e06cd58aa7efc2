import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** A verified backup of one database. Only verified backups exist under their final name. */
export interface BackupInfo {
  database: string;
  path: string;
  takenAt: number;
  size: number;
}

/** Directory holding the backups of one database. */
export function backupDir(stateDir: string, database: string): string {
  return join(stateDir, 'backups', database);
}

/** Verified backups of a database, newest first. */
export function listBackups(stateDir: string, database: string): BackupInfo[] {
  const dir = backupDir(stateDir, database);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => /^(\d+)\.db$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const path = join(dir, m[0]);
      return { database, path, takenAt: Number(m[1]), size: statSync(path).size };
    })
    .sort((a, b) => b.takenAt - a.takenAt);
}

/** Runs `PRAGMA quick_check` on a file; returns the problems found (empty when sound). */
export function quickCheck(path: string, limit = 10): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma(`quick_check(${limit})`) as { quick_check: string }[];
    return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  } finally {
    db.close();
  }
}

/**
 * Takes a backup with SQLite's online backup API, verifies it with quick_check, and only then
 * gives it its final name; keeps the newest `keep`. Throws when the source cannot be read
 * (a corrupt source never produces a "good" backup).
 */
export async function takeBackup(
  source: { name: string; path: string },
  stateDir: string,
  keep: number,
  now = Date.now(),
): Promise<BackupInfo> {
  const dir = backupDir(stateDir, source.name);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${now}.db.partial`);
  // Read-only: closing a read-write handle could fold the WAL into a file not yet copied aside.
  const db = new Database(source.path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    await db.backup(tmp);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    db.close();
  }
  const problems = quickCheck(tmp);
  if (problems.length > 0) {
    rmSync(tmp, { force: true });
    throw new Error(`backup of ${source.name} failed verification: ${problems.join('; ')}`);
  }
  const path = join(dir, `${now}.db`);
  renameSync(tmp, path);
  for (const old of listBackups(stateDir, source.name).slice(keep)) rmSync(old.path, { force: true });
  return { database: source.name, path, takenAt: now, size: statSync(path).size };
}

/** Row counts per table, or undefined for tables that cannot be read. */
export function rowCounts(path: string): Record<string, number | null> {
  const counts: Record<string, number | null> = {};
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as {
      name: string;
    }[];
    for (const { name } of tables) {
      try {
        counts[name] = (
          db.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number }
        ).n;
      } catch {
        counts[name] = null;
      }
    }
  } catch {
    // An unreadable schema means no table can be counted: the caller reports that as unknown.
  } finally {
    db?.close();
  }
  return counts;
}
