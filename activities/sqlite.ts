import { checkpointOffThread, inspectOffThread, verifyOffThread } from '../lib/database-steps.js';
import { withHeartbeat } from '../lib/heartbeat.js';
import { StepProgress } from '../lib/step-progress.js';
import { processesHoldingOpen, shortDescription } from '../lib/proc.js';
import { databaseFileSet } from '../lib/sqlite-file.js';
import type { ActivityDeps } from './deps.js';
import { databasePathOf, ownQuarantineCopies, recordHealed, sizeOf } from './sqlite-files.js';
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

    /**
     * Header check, then `PRAGMA integrity_check` and a write-lock probe on the SQLite thread: a
     * check of gigabytes never stalls Guardian's event loop, and the timer keeps heartbeating.
     */
    async inspectDatabase({ database }: { database: string }): Promise<DatabaseInspection> {
      const path = databasePath(database);
      const progress = new StepProgress();
      progress.start('integrity_check', await sizeOf(path));
      return withHeartbeat((signal) => inspectOffThread(path, { signal }), progress.details);
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
      await withHeartbeat(async (signal) => {
        // The checkpoint writes the main file in place: a quarantine linked to it gets its own copy first.
        if (quarantineDir) await ownQuarantineCopies(quarantineDir, path, signal);
        const { busy } = await checkpointOffThread(path, signal);
        if (busy) throw new Error(`checkpoint of ${database} was blocked by a reader or writer`);
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
      await withHeartbeat((signal) => verifyOffThread(database, path, signal));
      return { healthyAt: Date.now() };
    },
  };
}
