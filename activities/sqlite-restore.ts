import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { listBackups, recordedDigest } from '../lib/backups.js';
import { rowCountsOffThread } from '../lib/database-steps.js';
import { StepProgress } from '../lib/step-progress.js';
import { copyFileVerified, exists, freeName, moveFile } from '../lib/files.js';
import { digestIfExists } from '../lib/hash.js';
import { throwIfCancelled, withHeartbeat } from '../lib/heartbeat.js';
import { fsyncDir, runJournaled, StepState } from '../lib/step-state.js';
import type { ActivityDeps } from './deps.js';
import {
  databaseHolders,
  databasePathOf,
  ownQuarantineCopies,
  recordHealed,
  refuseWhileOpen,
  sizeOf,
} from './sqlite-files.js';
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
              let copy: { sha256: string };
              try {
                refuseWhileOpen(database, path, 'the restore', `The damaged files are kept in ${quarantineDir}.`);
                // Each byte is read twice: once copied and hashed, once read back from the copy.
                progress.start('copying the backup', 2 * (await sizeOf(journal.backup)));
                await rm(journal.tmp, { force: true });
                copy = await copyFileVerified(journal.backup, journal.tmp, signal, progress.add);
                if (copy.sha256 !== journal.backupSha256) {
                  throw ApplicationFailure.nonRetryable(
                    `the backup ${journal.backup} changed since it was chosen; restore it by hand or take a new backup`,
                    FailureType.BackupChanged,
                  );
                }
                throwIfCancelled();
                progress.start('moving stale companions aside');
                await mkdir(join(quarantineDir, 'displaced'), { recursive: true });
                for (const { from, to } of journal.displaced) {
                  if (!(await exists(from))) continue;
                  // One an earlier run moved stays; a companion created since goes beside it.
                  await moveFile(from, (await exists(to)) ? await freeName(to) : to);
                }
                await fsyncDir(dirname(path));
                throwIfCancelled();
              } catch (err) {
                // Before the commit point (cancelled, failed, or failed on the retry after Guardian
                // died here): the copy goes and the companions an earlier run moved come back too.
                await undoBegun(journal, path); // what it cannot return, its undo (undoBackupRestore) reports
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

    /**
     * Undo of a restore-last-good-backup that failed: when it stopped before its commit point (a
     * failed retry after Guardian died between moving the damaged file's -wal/-shm aside and the
     * rename, say), the copy goes and the moved companions come back beside the damaged file, as
     * they were. Past the commit point the restored backup is kept (good data in place); the undo of
     * copy-aside is what brings the originals back on a rollback. A quarantined file hard-linked to
     * the damaged one gets its own inode first (the service may write the file once it has it back).
     * Fails, naming them, when a companion cannot come back: the originals are then in the
     * quarantine, verified.
     */
    async undoBackupRestore({
      database,
      quarantineDir,
    }: {
      database: string;
      quarantineDir: string;
    }): Promise<{ returned: string[] }> {
      const path = databasePathOf(config, database);
      const state = new StepState(quarantineDir, 'restore');
      const journal = await state.readJournal<RestoreJournal>();
      if (!journal) return { returned: [] }; // it never planned, so it did nothing
      const committed =
        (await state.readResult<BackupRestore>()) !== undefined ||
        (await digestIfExists(path))?.sha256 === journal.backupSha256;
      if (committed) return { returned: [] };
      // The damaged file goes back to whoever opens it next, who may write it in place: a
      // quarantine linked to its inode gets its own copy first, so the originals stay as verified.
      await ownQuarantineCopies(quarantineDir, path);
      const { returned, left } = await undoBegun(journal, path);
      if (left.length > 0) {
        const holders = databaseHolders(path);
        throw ApplicationFailure.nonRetryable(
          `the damaged ${database}'s ${left.map((c) => basename(c.from)).join(', ')} stay in ${join(quarantineDir, 'displaced')}: ` +
            (holders.length > 0
              ? `${path} is open in ${holders.join(', ')}, and moving them back under it would mix two states. `
              : `other files stand in their place now. `) +
            `Every original file is also in ${quarantineDir}, verified (manifest.json). Stop what has ${path} open, then move them back by hand.`,
          FailureType.CompanionsDisplaced,
        );
      }
      return { returned };
    },
  };
}

/**
 * Undoes a restore stopped before its commit point: the copy goes and the companions moved aside
 * come back, so the database is as it was. A companion stays in the quarantine when another stands
 * in its place now, or while a process holds the database open (moving a WAL under an open
 * connection would mix two states): those are `left`.
 */
async function undoBegun(
  journal: RestoreJournal,
  path: string,
): Promise<{ returned: string[]; left: RestoreJournal['displaced'] }> {
  await rm(journal.tmp, { force: true });
  const moved: RestoreJournal['displaced'] = [];
  for (const companion of journal.displaced) if (await exists(companion.to)) moved.push(companion);
  if (moved.length === 0) return { returned: [], left: [] };
  if (databaseHolders(path).length > 0) return { returned: [], left: moved };
  const returned: string[] = [];
  const left: RestoreJournal['displaced'] = [];
  for (const companion of moved) {
    if (await exists(companion.from)) left.push(companion);
    else {
      await moveFile(companion.to, companion.from);
      returned.push(companion.from);
    }
  }
  await fsyncDir(dirname(path));
  return { returned, left };
}
