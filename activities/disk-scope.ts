import { mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { GuardianConfig } from '../lib/config/load.js';
import {
  dirsByMount,
  type FoundFile,
  freeBytes,
  type GuardedDir,
  isInside,
  listFiles,
  mountOf,
  openFilesUnder,
} from '../lib/disk.js';
import { exists, moveFile } from '../lib/files.js';
import { realpathOrSelf } from '../lib/proc.js';
import { currentStep, readJson, type StepState, stepState } from '../lib/step-state.js';
import { FailureType, manifestMissing } from '../lib/failures.js';

/** Free space on a guarded filesystem against its threshold. */
export interface DiskMeasure {
  free: number;
  total: number;
  minFree: number;
  /** Bytes still missing to reach minFree (0 when healthy). */
  short: number;
}

/** What a cleanup step did; the file-by-file record is in `manifest` (kept out of the history). */
export interface CleanupResult {
  /** Files acted on. */
  count: number;
  /** Bytes freed on the filesystem (statfs before and after). */
  freed: number;
  /** Files left alone: open in some process, outside the directory, changed meanwhile, or no room to work. */
  skipped: number;
  /** The step's journal: every file it would act on, written and fsynced before it acted. */
  manifest: string;
  /** Removed files went to this trash on secondary storage (undoable); undefined: gone for good. */
  trash?: string;
  free: number;
  short: number;
}

/** A candidate file, with the guarded directory it was found in. */
export type Candidate = FoundFile & { dir: string };

/** What every disk cleanup shares: the settings, measuring, choosing candidates, its step state. */
export function diskScope(config: GuardianConfig) {
  const disk = () => {
    if (!config.disk)
      throw ApplicationFailure.nonRetryable(`${config.file} has no disk: section`, FailureType.NoDiskSection);
    return config.disk;
  };
  const dirsOn = (resource: string, kind?: GuardedDir['kind']): GuardedDir[] =>
    (dirsByMount(disk()).get(resource) ?? []).filter((d) => kind === undefined || d.kind === kind);
  const measure = (resource: string): DiskMeasure => {
    const { free, total } = freeBytes(resource);
    const minFree = disk().minFree;
    return { free, total, minFree, short: Math.max(0, minFree - free) };
  };
  return {
    disk,
    measure,
    /** The journal and first result of cleanup `kind` in this run: `<stateDir>/disk/<runId>/<kind>…`. */
    state: (kind: string): StepState => stepState(config.stateDir, ['disk'], kind),
    /** Candidates in dirs of a kind: regular files, inside their dir, not held open by any process. */
    async candidates(resource: string, kind: GuardedDir['kind']): Promise<{ files: Candidate[]; skipped: number }> {
      const dirs = dirsOn(resource, kind);
      const open = await openFilesUnder(dirs.map((d) => d.path));
      const files: Candidate[] = [];
      let skipped = 0;
      for (const dir of dirs) {
        // /proc/<pid>/fd names resolved paths: compare those when the configured path goes through a symlink.
        const real = realpathOrSelf(dir.path);
        // The walk never follows a symlink, so files are inside by construction; this checks again
        // (once per directory) in case a directory was swapped for a symlink meanwhile.
        const inside = new Map<string, boolean>();
        for (const file of await listFiles(dir.path)) {
          const parent = dirname(file.path);
          let ok = inside.get(parent);
          if (ok === undefined) inside.set(parent, (ok = isInside(file.path, dir.path)));
          if (open.has(join(real, relative(dir.path, file.path))) || !ok) skipped++;
          else files.push({ ...file, dir: dir.path });
        }
      }
      return { files, skipped };
    },
    /** A trash on secondary storage, when one is configured on another filesystem with room for `bytes`. */
    async trashFor(resource: string, bytes: number): Promise<string | undefined> {
      const secondary = disk().secondary;
      if (!secondary) return undefined;
      await mkdir(secondary, { recursive: true });
      if (mountOf(secondary) === resource || freeBytes(secondary).free < bytes * 1.1) return undefined;
      return join(secondary, 'guardian-trash', currentStep()?.runId ?? 'direct');
    },
    /** The result of a cleanup, from free space before (journaled) and after. */
    result(
      state: StepState,
      count: number,
      before: number,
      skipped: number,
      resource: string,
      trash?: string,
    ): CleanupResult {
      const after = measure(resource);
      return {
        count,
        freed: Math.max(0, after.free - before),
        skipped,
        manifest: state.journalPath,
        ...(trash ? { trash } : {}),
        free: after.free,
        short: after.short,
      };
    },
  };
}

/** The diskScope of one config. */
export type DiskScope = ReturnType<typeof diskScope>;

/** A cleanup's journal read back for its rollback; a missing one is an error that says so. */
export async function readCleanupJournal<J>(manifest: string): Promise<J> {
  const journal = await readJson<J>(manifest);
  if (journal === undefined) {
    throw manifestMissing(
      `the cleanup journal ${manifest}`,
      'what the step removed or moved is not known',
      'Look in the trash and artifacts folders on secondary storage by hand.',
    );
  }
  return journal;
}

/**
 * Rollback of a move: puts each file at `from` back at `to` (its place before the step), unless
 * something stands there again or `from` is gone; returns how many were put back.
 */
export async function moveBackToPlace(moves: readonly { from: string; to: string }[]): Promise<number> {
  let returned = 0;
  for (const { from, to } of moves) {
    if ((await exists(to)) || !(await exists(from))) continue;
    await mkdir(dirname(to), { recursive: true });
    await moveFile(from, to);
    returned++;
  }
  return returned;
}
