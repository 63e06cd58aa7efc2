import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import Database from 'better-sqlite3';
import { listBackups, rowCounts } from '../lib/backups.js';
import { checkHeader, databaseFileSet } from '../lib/sqlite-file.js';
import type { ActivityDeps } from './deps.js';
import { copyFileAtomic } from '../lib/atomic-file.js';

/** A file of the set copied aside before a remediation touched it. */
export interface QuarantinedFile {
  name: string;
  existed: boolean;
  size: number;
  sha256: string;
}

/** What `inspectDatabase` found. */
export interface DatabaseInspection {
  verdict: 'ok' | 'corrupt' | 'notadb' | 'locked' | 'missing';
  problems: string[];
  walBytes: number;
}

/** SQLite activities for database-corruption: copy aside, inspect, checkpoint, restore, verify. */
export function createSqliteActivities({ config }: Pick<ActivityDeps, 'config'>) {
  const databasePath = (name: string): string => {
    const db = config.databases.find((d) => d.name === name);
    if (!db) throw ApplicationFailure.nonRetryable(`no database named "${name}" in ${config.file}`, 'UnknownDatabase');
    return db.path;
  };

  return {
    /**
     * Copies the database's file set (db, -wal, -shm, -journal) aside, even if corrupt, with a
     * checksum manifest. Idempotent: a second call for the same incident returns the first copy.
     */
    async quarantineDatabaseFiles({
      database,
    }: {
      database: string;
    }): Promise<{ dir: string; files: QuarantinedFile[] }> {
      const path = databasePath(database);
      const { info } = Context.current();
      const runId = info.workflowExecution?.runId ?? info.activityId;
      const dir = join(config.stateDir, 'quarantine', database, runId);
      const manifestPath = join(dir, 'manifest.json');
      try {
        return { dir, files: JSON.parse(await readFile(manifestPath, 'utf8')) as QuarantinedFile[] };
      } catch {
        // No manifest yet: this is the first attempt.
      }
      await mkdir(dir, { recursive: true });
      const files: QuarantinedFile[] = [];
      for (const file of databaseFileSet(path)) {
        const name = basename(file);
        try {
          await copyFile(file, join(dir, name));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          files.push({ name, existed: false, size: 0, sha256: '' });
          continue;
        }
        Context.current().heartbeat(name);
        const { size, sha256 } = await digest(join(dir, name));
        files.push({ name, existed: true, size, sha256 });
      }
      await writeFile(manifestPath, JSON.stringify(files, null, 2));
      return { dir, files };
    },

    /** Puts the quarantined file set back exactly (byte-identical), removing companions that did not exist. */
    async restoreQuarantinedFiles({
      database,
      dir,
    }: {
      database: string;
      dir: string;
    }): Promise<{ restored: string[] }> {
      const path = databasePath(database);
      const files = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as QuarantinedFile[];
      const changed: string[] = [];
      for (const file of databaseFileSet(path)) {
        const entry = files.find((f) => f.name === basename(file));
        const now = await digest(file).catch(() => undefined);
        if (entry?.existed ? now?.sha256 !== entry.sha256 : now !== undefined) changed.push(file);
      }
      // Files that are as they were stay as they are: replacing one would swap its inode under
      // whatever has it open.
      if (changed.length === 0) return { restored: [] };
      const holders = await lockHolders(path);
      if (holders.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `${database} is open in ${holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ')}; ` +
            `its files were not put back, since that would discard what it writes. The originals are in ${dir}.`,
          'DatabaseInUse',
        );
      }
      const restored: string[] = [];
      for (const file of changed) {
        const entry = files.find((f) => f.name === basename(file));
        if (!entry || !entry.existed) {
          await rm(file, { force: true });
          continue;
        }
        await copyFileAtomic(join(dir, entry.name), file);
        const { sha256 } = await digest(file);
        if (sha256 !== entry.sha256) throw new Error(`restored ${file} does not match its quarantined copy`);
        restored.push(file);
        Context.current().heartbeat(entry.name);
      }
      return { restored };
    },

    /** Header check, then `PRAGMA integrity_check`, then a write-lock probe. */
    async inspectDatabase({ database }: { database: string }): Promise<DatabaseInspection> {
      const path = databasePath(database);
      const walBytes = await sizeOf(`${path}-wal`);
      const header = await checkHeader(path);
      if (header.code === 'ENOENT') return { verdict: 'missing', problems: [header.problem ?? 'missing'], walBytes };
      if (header.code === 'SQLITE_NOTADB')
        return { verdict: 'notadb', problems: [header.problem ?? 'not a database'], walBytes };
      if (!header.ok) return { verdict: 'corrupt', problems: [header.problem ?? 'corrupt'], walBytes };
      let db: Database.Database | undefined;
      try {
        db = new Database(path, { fileMustExist: true, timeout: 1000 });
        const rows = db.pragma('integrity_check(20)') as { integrity_check: string }[];
        const problems = rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
        if (problems.length > 0) return { verdict: 'corrupt', problems, walBytes };
        db.exec('BEGIN IMMEDIATE; ROLLBACK');
        return { verdict: 'ok', problems: [], walBytes };
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        const message = (err as Error).message;
        if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
          return { verdict: 'locked', problems: [message], walBytes };
        if (code === 'SQLITE_NOTADB') return { verdict: 'notadb', problems: [message], walBytes };
        return { verdict: 'corrupt', problems: [`${code}: ${message}`], walBytes };
      } finally {
        db?.close();
      }
    },

    /** `PRAGMA wal_checkpoint(TRUNCATE)`: folds the WAL into the database and empties it. */
    async checkpointDatabase({
      database,
    }: {
      database: string;
    }): Promise<{ walBytesBefore: number; walBytesAfter: number }> {
      const path = databasePath(database);
      const walBytesBefore = await sizeOf(`${path}-wal`);
      const db = new Database(path, { fileMustExist: true, timeout: 2000 });
      try {
        const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
        if (row && row.busy !== 0) throw new Error(`checkpoint of ${database} was blocked by a reader or writer`);
      } finally {
        db.close();
      }
      return { walBytesBefore, walBytesAfter: await sizeOf(`${path}-wal`) };
    },

    /**
     * Replaces the database with its newest verified backup, atomically (copy beside, fsync,
     * rename). The corrupt files were quarantined first and are never deleted from there.
     */
    async restoreLastGoodBackup({ database, quarantineDir }: { database: string; quarantineDir: string }): Promise<{
      backupTakenAt: number;
      backupAgeMs: number;
      rowsBefore: Record<string, number | null>;
      rowsAfter: Record<string, number | null>;
    }> {
      const path = databasePath(database);
      const [backup] = listBackups(config.stateDir, database);
      if (!backup) {
        throw ApplicationFailure.nonRetryable(
          `no verified backup of ${database} exists under ${config.stateDir}/backups; the damaged files are kept in ${quarantineDir}`,
          'NoBackup',
        );
      }
      const rowsBefore = rowCounts(join(quarantineDir, basename(path)));
      await copyFileAtomic(backup.path, path);
      // The quarantined WAL belongs to the damaged file; replaying it over the backup would re-corrupt it.
      await rm(`${path}-wal`, { force: true });
      await rm(`${path}-shm`, { force: true });
      await rm(`${path}-journal`, { force: true });
      return {
        backupTakenAt: backup.takenAt,
        backupAgeMs: Date.now() - backup.takenAt,
        rowsBefore,
        rowsAfter: rowCounts(path),
      };
    },

    /** Processes holding POSIX locks on the database's files, from /proc/locks. */
    async findLockHolders({ database }: { database: string }): Promise<{ pid: number; command: string }[]> {
      return lockHolders(databasePath(database));
    },

    /** Confirms the database passes quick_check and accepts a write lock; returns when it was confirmed. */
    async verifyDatabase({ database }: { database: string }): Promise<{ healthyAt: number; detail?: string }> {
      const path = databasePath(database);
      const db = new Database(path, { fileMustExist: true, timeout: 2000 });
      try {
        const rows = db.pragma('quick_check(5)') as { quick_check: string }[];
        const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
        if (problems.length > 0) throw new Error(`${database} still fails quick_check: ${problems.join('; ')}`);
        db.exec('BEGIN IMMEDIATE; ROLLBACK');
      } finally {
        db.close();
      }
      return { healthyAt: Date.now() };
    },
  };
}

/** Other processes holding POSIX locks on a database's files, from /proc/locks. */
async function lockHolders(path: string): Promise<{ pid: number; command: string }[]> {
  const inodes = new Set<string>();
  for (const file of databaseFileSet(path)) {
    try {
      inodes.add(String((await stat(file)).ino));
    } catch {
      // Companion files may not exist.
    }
  }
  const holders = new Map<number, string>();
  for (const line of (await readFile('/proc/locks', 'utf8')).split('\n')) {
    const fields = line.trim().split(/\s+/);
    const pid = Number(fields[4]);
    const inode = fields[5]?.split(':')[2];
    if (!inode || !inodes.has(inode) || !Number.isInteger(pid) || pid === process.pid) continue;
    holders.set(pid, await commandOf(pid));
  }
  return [...holders].map(([pid, command]) => ({ pid, command }));
}

async function digest(path: string): Promise<{ size: number; sha256: string }> {
  const data = await readFile(path);
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function commandOf(pid: number): Promise<string> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
    return cmdline || (await readlink(`/proc/${pid}/exe`));
  } catch {
    return '(unknown)';
  }
}
