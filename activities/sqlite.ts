import Database from 'better-sqlite3';
import { withHeartbeat } from '../lib/heartbeat.js';
import { processesHoldingOpen, shortDescription } from '../lib/proc.js';
import { checkHeader, databaseFileSet } from '../lib/sqlite-file.js';
import type { ActivityDeps } from './deps.js';
import { databasePathOf, recordHealed, sizeOf } from './sqlite-files.js';
import { createSqliteQuarantineActivities } from './sqlite-quarantine.js';
import { createSqliteRestoreActivities } from './sqlite-restore.js';

export type { DatabaseFingerprint, QuarantinedFile } from './sqlite-files.js';
export type { DatabaseRollback } from './sqlite-quarantine.js';
export type { BackupRestore } from './sqlite-restore.js';

/** What `inspectDatabase` found. */
export interface DatabaseInspection {
  verdict: 'ok' | 'corrupt' | 'notadb' | 'locked' | 'missing';
  problems: string[];
  walBytes: number;
}

/** SQLite activities for database-corruption: copy aside, inspect, checkpoint, restore, verify, roll back. */
export function createSqliteActivities({ config }: Pick<ActivityDeps, 'config'>) {
  const databasePath = (name: string): string => databasePathOf(config, name);

  return {
    ...createSqliteQuarantineActivities({ config }),
    ...createSqliteRestoreActivities({ config }),

    /** Header check, then `PRAGMA integrity_check`, then a write-lock probe. */
    async inspectDatabase({ database }: { database: string }): Promise<DatabaseInspection> {
      const path = databasePath(database);
      const walBytes = await sizeOf(`${path}-wal`);
      const header = await checkHeader(path);
      if (header.code === 'ENOENT') return { verdict: 'missing', problems: [header.problem ?? 'missing'], walBytes };
      if (header.code === 'SQLITE_NOTADB')
        return { verdict: 'notadb', problems: [header.problem ?? 'not a database'], walBytes };
      if (!header.ok) return { verdict: 'corrupt', problems: [header.problem ?? 'corrupt'], walBytes };
      return withHeartbeat(async () => {
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
      });
    },

    /**
     * `PRAGMA wal_checkpoint(TRUNCATE)`: folds the WAL into the database and empties it. With
     * `quarantineDir`, records what the healed database holds, so a rollback can tell later writes.
     */
    async checkpointDatabase({
      database,
      quarantineDir,
    }: {
      database: string;
      quarantineDir?: string;
    }): Promise<{ walBytesBefore: number; walBytesAfter: number }> {
      const path = databasePath(database);
      const walBytesBefore = await sizeOf(`${path}-wal`);
      await withHeartbeat(async () => {
        const db = new Database(path, { fileMustExist: true, timeout: 2000 });
        try {
          const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
          if (row && row.busy !== 0) throw new Error(`checkpoint of ${database} was blocked by a reader or writer`);
        } finally {
          db.close();
        }
      });
      if (quarantineDir) await recordHealed(quarantineDir, path);
      return { walBytesBefore, walBytesAfter: await sizeOf(`${path}-wal`) };
    },

    /** Every other process holding a file of the database's set open (/proc/<pid>/fd), described briefly. */
    async findLockHolders({ database }: { database: string }): Promise<{ pid: number; command: string }[]> {
      return processesHoldingOpen(databaseFileSet(databasePath(database))).map((pid) => ({
        pid,
        command: shortDescription(pid).replace(/^pid \d+ \((.*)\)$/, '$1'),
      }));
    },

    /** Confirms the database passes quick_check and accepts a write lock; returns when it was confirmed. */
    async verifyDatabase({ database }: { database: string }): Promise<{ healthyAt: number; detail?: string }> {
      const path = databasePath(database);
      await withHeartbeat(async () => {
        const db = new Database(path, { fileMustExist: true, timeout: 2000 });
        try {
          const rows = db.pragma('quick_check(5)') as { quick_check: string }[];
          const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
          if (problems.length > 0) throw new Error(`${database} still fails quick_check: ${problems.join('; ')}`);
          db.exec('BEGIN IMMEDIATE; ROLLBACK');
        } finally {
          db.close();
        }
      });
      return { healthyAt: Date.now() };
    },
  };
}
