import { chmod, mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { digestIfExists } from '../lib/hash.js';
import { copyFileVerified, linkAside, replaceFileVerified, sameInode } from '../lib/files.js';
import { throwIfCancelled, withHeartbeat } from '../lib/heartbeat.js';
import { StepProgress } from '../lib/step-progress.js';
import { databaseFileSet } from '../lib/sqlite-file.js';
import { createPrivateFile, STATE_DIR_MODE } from '../lib/state-db.js';
import { readJson, runDir, runJournaled, StepState } from '../lib/step-state.js';
import type { ActivityDeps } from './deps.js';
import {
  databasePathOf,
  type DatabaseFingerprint,
  describeRowChanges,
  fingerprintOf,
  fingerprintOfQuarantine,
  healedPath,
  type QuarantinedFile,
  quarantinedDigest,
  readQuarantineManifest,
  refuseWhileOpen,
  sameContent,
  sizeOf,
} from './sqlite-files.js';
import { FailureType } from '../lib/failures.js';

/** What a rollback of the database did: files put back, and where the live files it replaced are kept. */
export interface DatabaseRollback {
  restored: string[];
  /** The live files as they were just before the rollback, copied and verified; absent when nothing changed. */
  kept?: string;
  /** Set when the database had been written since the heal and the rollback was forced: what those writes were. */
  discarded?: string;
}

interface RollbackJournal {
  changed: string[];
  kept?: string;
  discarded?: string;
}

/** Copying a database's file set aside (copy-aside) and putting it back (its rollback). */
export function createSqliteQuarantineActivities({ config }: Pick<ActivityDeps, 'config'>) {
  return {
    /**
     * Keeps the database's file set (db, -wal, -shm, -journal) aside, even if corrupt, with a
     * checksum manifest: the main file as a hard link where the filesystem allows (its inode
     * leaves the live path when the restore renames the backup over it), the rest as copies
     * verified against what was read. A second run for the same incident returns the first result.
     */
    async quarantineDatabaseFiles({
      database,
    }: {
      database: string;
    }): Promise<{ dir: string; files: QuarantinedFile[] }> {
      const path = databasePathOf(config, database);
      const dir = runDir(config.stateDir, 'quarantine', database);
      const state = new StepState(dir, 'manifest');
      const progress = new StepProgress();
      const files = await withHeartbeat(
        (signal) =>
          runJournaled(state, {
            plan: async () => databaseFileSet(path).map((file) => basename(file)),
            act: async (names) => {
              // Owner-only: the linked main file keeps the live file's mode, so the directory guards it.
              await mkdir(dir, { recursive: true, mode: STATE_DIR_MODE });
              await chmod(dir, STATE_DIR_MODE);
              const out: QuarantinedFile[] = [];
              for (const name of names) {
                throwIfCancelled();
                const from = join(dirname(path), name);
                const to = join(dir, name);
                try {
                  // The main file is linked, not copied (seconds per GB saved): the restore
                  // replaces it by a rename, and a step that writes it in place first gives the
                  // quarantine its own copy (ownInode). The small companions are copied.
                  const linked = name === basename(path) ? await linkAside(from, to) : undefined;
                  if (linked) {
                    out.push({
                      name,
                      existed: true,
                      size: linked.size,
                      sha256: '',
                      linked: true,
                      identity: linked.identity,
                    });
                    continue;
                  }
                  // Each byte is read twice: once copied and hashed, once read back from the copy.
                  progress.start(`copying ${name} aside`, 2 * (await sizeOf(from)));
                  createPrivateFile(to);
                  const { size, sha256 } = await copyFileVerified(from, to, signal, progress.add);
                  out.push({ name, existed: true, size, sha256 });
                } catch (err) {
                  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
                  out.push({ name, existed: false, size: 0, sha256: '' });
                }
              }
              return out;
            },
          }),
        progress.details,
      );
      return { dir, files };
    },

    /**
     * Rollback of copy-aside: puts the quarantined file set back exactly (byte-identical),
     * removing companions that did not exist. First the live files are copied aside (verified)
     * and named in the result. Refuses while any process holds the database open, and when the
     * database was written since the heal, naming what would be lost, unless `force`.
     */
    async restoreQuarantinedFiles({
      database,
      dir,
      force = false,
    }: {
      database: string;
      dir: string;
      force?: boolean;
    }): Promise<DatabaseRollback> {
      const path = databasePathOf(config, database);
      const files = await readQuarantineManifest(dir);
      const entryOf = (file: string) => files.find((f) => f.name === basename(file));
      const differs = async (file: string): Promise<boolean> => {
        const entry = entryOf(file);
        // A link the restore never moved the live path off is the live file itself.
        if (entry?.linked && (await sameInode(file, join(dir, entry.name)))) return false;
        const now = await digestIfExists(file);
        return entry?.existed ? now?.sha256 !== (await quarantinedDigest(dir, entry)) : now !== undefined;
      };
      const kept = join(dir, 'live-before-rollback');
      return withHeartbeat(
        (signal) =>
          runJournaled<RollbackJournal, DatabaseRollback>(new StepState(dir, 'rollback'), {
            async plan() {
              const changed: string[] = [];
              for (const file of databaseFileSet(path)) if (await differs(file)) changed.push(file);
              // Files that are as they were stay as they are: replacing one would swap its inode
              // under whatever has it open.
              if (changed.length === 0) return { changed };
              refuseWhileOpen(database, path, 'the rollback', `The originals are in ${dir}.`);
              const baseline =
                (await readJson<DatabaseFingerprint>(healedPath(dir))) ??
                (await fingerprintOfQuarantine(path, files, dir));
              const now = await fingerprintOf(path, signal);
              const discarded = sameContent(baseline, now) ? undefined : describeRowChanges(baseline.rows, now.rows);
              if (discarded !== undefined && !force)
                throw ApplicationFailure.nonRetryable(
                  `${database} was written since Guardian healed it (${discarded}); rolling back would lose those ` +
                    `writes, so nothing was changed. ${putBackByHand(database, path, dir, files)}`,
                  FailureType.DatabaseChangedSinceHeal,
                );
              await rm(kept, { recursive: true, force: true });
              await mkdir(kept, { recursive: true });
              for (const file of databaseFileSet(path)) {
                throwIfCancelled();
                createPrivateFile(join(kept, basename(file)));
                await copyFileVerified(file, join(kept, basename(file)), signal).catch((err: unknown) => {
                  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
                });
              }
              return { changed: changed.map((f) => basename(f)), kept, ...(discarded ? { discarded } : {}) };
            },
            async act(journal) {
              if (journal.changed.length === 0) return { restored: [] };
              refuseWhileOpen(
                database,
                path,
                'the rollback',
                `The originals are in ${dir}; the live files in ${kept}.`,
              );
              const restored: string[] = [];
              // Companions first, the main file last: a crash in between leaves a WAL whose salt
              // does not match the main file, which SQLite ignores, and a re-run finishes the job.
              for (const file of databaseFileSet(path).reverse()) {
                if (!journal.changed.includes(basename(file)) || !(await differs(file))) continue;
                const entry = entryOf(file);
                if (!entry?.existed) {
                  await rm(file, { force: true });
                  continue;
                }
                const expected = await quarantinedDigest(dir, entry);
                const { sha256 } = await replaceFileVerified(join(dir, entry.name), file);
                // The -shm is the WAL's index, a cache: a read-only open of the quarantined copy
                // (the restore counts its rows) rewrites it, and SQLite rebuilds it from the WAL.
                if (sha256 !== expected && !entry.name.endsWith('-shm'))
                  throw new Error(`quarantined ${entry.name} in ${dir} no longer matches its manifest`);
                restored.push(file);
              }
              return {
                restored,
                ...(journal.kept ? { kept: journal.kept } : {}),
                ...(journal.discarded ? { discarded: journal.discarded } : {}),
              };
            },
          }),
        () => `rolling back ${database}`,
      );
    },
  };
}

/**
 * What an operator can still do once a refused rollback closed the incident (a rollback signal
 * no longer reaches it): the originals' place, the commands that put them back, and the hold.
 */
function putBackByHand(database: string, path: string, dir: string, files: readonly QuarantinedFile[]): string {
  const live = (name: string) => join(dirname(path), name);
  const commands = files.map((f) =>
    f.existed ? `cp '${join(dir, f.name)}' '${live(f.name)}'` : `rm -f '${live(f.name)}'`,
  );
  return (
    `The incident is closed and ${database} is on hold. The files from before the heal are kept in ${dir}; ` +
    `to put them back by hand, stop what has ${path} open, copy the live files somewhere safe, then run: ` +
    `${commands.join(' && ')}. When done: guardian resume database-corruption ${database}`
  );
}
