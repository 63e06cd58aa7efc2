import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { listBackups, recordedDigest } from '../lib/backups.js';
import { rowCountsOffThread } from '../lib/database-steps.js';
import { StepProgress } from '../lib/step-progress.js';
import { copyFileVerified, exists, moveFile } from '../lib/files.js';
import { digestIfExists } from '../lib/hash.js';
import { isActivityCancellation, throwIfCancelled, withHeartbeat } from '../lib/heartbeat.js';
import { fsyncDir, runJournaled, StepState } from '../lib/step-state.js';
import type { ActivityDeps } from './deps.js';
import { databasePathOf, recordHealed, refuseWhileOpen, sizeOf } from './sqlite-files.js';
import { FailureType } from '../lib/failures.js';

/** What `restoreLastGoodBackup` put in place. */
export interface BackupRestore {
  backupTakenAt: number;
  backupAgeMs: number;
  rowsBefore: Record<string, number | null>;
  rowsAfter: Record<string, number | null>;
}

interface RestoreJournal {
  backup: string;
  backupSha256: string;
  takenAt: number;
  /** The copy of the backup beside the database, renamed over it at the commit point. */
  tmp: string;
  /** Stale companions (-wal, -shm, -journal) of the damaged file: moved here before the rename. */
  displaced: { from: string; to: string }[];
  rowsBefore: Record<string, number | null>;
}

/** Putting the newest verified backup in place of a damaged database (restore-last-good-backup). */
export function createSqliteRestoreActivities({ config }: Pick<ActivityDeps, 'config'>) {
  return {
    /**
     * Replaces the database with its newest verified backup. Refuses while any process holds a
     * file of the set open. The copy is made beside the database and verified; the damaged
     * file's stale -wal/-shm/-journal are moved aside (into the quarantine) before the rename, so
     * SQLite never replays a damaged WAL over the backup. The rename is the commit point:
     * cancelled before it, the step undoes what it began and the database is as it was.
     */
    async restoreLastGoodBackup({
      database,
      quarantineDir,
    }: {
      database: string;
      quarantineDir: string;
    }): Promise<BackupRestore> {
      const path = databasePathOf(config, database);
      const state = new StepState(quarantineDir, 'restore');
      const progress = new StepProgress();
      return withHeartbeat(
        (signal) =>
          runJournaled<RestoreJournal, BackupRestore>(state, {
            async plan() {
              const [backup] = listBackups(config.stateDir, database);
              if (!backup) {
                throw ApplicationFailure.nonRetryable(
                  `no verified backup of ${database} exists under ${config.stateDir}/backups; the damaged files are kept in ${quarantineDir}`,
                  FailureType.NoBackup,
                );
              }
              refuseWhileOpen(database, path, 'the restore', `The damaged files are kept in ${quarantineDir}.`);
              progress.start("reading the backup's checksum");
              // Recorded when the backup was taken; read whole only for a backup without one.
              const digest = (await recordedDigest(backup.path)) ?? (await digestIfExists(backup.path, signal));
              if (!digest) throw new Error(`the backup ${backup.path} vanished while it was being read; retry`);
              return {
                backup: backup.path,
                backupSha256: digest.sha256,
                takenAt: backup.takenAt,
                tmp: `${path}.guardian-restore`,
                displaced: ['-wal', '-shm', '-journal'].map((suffix) => ({
                  from: `${path}${suffix}`,
                  to: join(quarantineDir, 'displaced', `${basename(path)}${suffix}`),
                })),
                rowsBefore: await rowCountsOffThread(join(quarantineDir, basename(path)), signal),
              };
            },
            async act(journal, resumed) {
              if (resumed && (await digestIfExists(path))?.sha256 === journal.backupSha256) {
                return finish(journal); // an earlier run got past the rename
              }
              refuseWhileOpen(database, path, 'the restore', `The damaged files are kept in ${quarantineDir}.`);
              // Each byte is read twice: once copied and hashed, once read back from the copy.
              progress.start('copying the backup', 2 * (await sizeOf(journal.backup)));
              await rm(journal.tmp, { force: true });
              const copy = await copyFileVerified(journal.backup, journal.tmp, signal, progress.add);
              if (copy.sha256 !== journal.backupSha256) {
                await rm(journal.tmp, { force: true });
                throw ApplicationFailure.nonRetryable(
                  `the backup ${journal.backup} changed since it was chosen; restore it by hand or take a new backup`,
                  FailureType.BackupChanged,
                );
              }
              try {
                throwIfCancelled();
                progress.start('moving stale companions aside');
                await mkdir(join(quarantineDir, 'displaced'), { recursive: true });
                for (const { from, to } of journal.displaced) if (await exists(from)) await moveFile(from, to);
                throwIfCancelled();
              } catch (err) {
                if (isActivityCancellation(err)) await undoBegun(journal);
                throw err;
              }
              progress.start('renaming');
              await rename(journal.tmp, path);
              await fsyncDir(dirname(path));
              return finish(journal, copy.sha256);
            },
          }),
        progress.details,
      );

      async function finish(journal: RestoreJournal, sha256?: string): Promise<BackupRestore> {
        progress.start('recording what was put in place');
        const healed = await recordHealed(quarantineDir, path, sha256);
        return {
          backupTakenAt: journal.takenAt,
          backupAgeMs: Date.now() - journal.takenAt,
          rowsBefore: journal.rowsBefore,
          rowsAfter: healed.rows,
        };
      }
    },
  };
}

/** Cancelled before the commit point: the copy goes, the companions come back, the database is as it was. */
async function undoBegun(journal: RestoreJournal): Promise<void> {
  await rm(journal.tmp, { force: true });
  for (const { from, to } of journal.displaced) {
    if ((await exists(to)) && !(await exists(from))) await moveFile(to, from);
  }
}
