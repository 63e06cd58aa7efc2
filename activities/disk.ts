import type { ActivityDeps } from './deps.js';
import { createDiskArtifactActivities } from './disk-artifacts.js';
import { createDiskLogActivities } from './disk-logs.js';
import { createDiskRemovalActivities } from './disk-removal.js';
import { type DiskMeasure, diskScope } from './disk-scope.js';
import { stillShort } from '../lib/failures.js';
import { oncePerStep } from '../lib/step-state.js';

export type { CleanupResult, DiskMeasure } from './disk-scope.js';

/** Disk activities for disk-full: measure, compress old logs, remove old snapshots and temp files, move artifacts, verify. */
export function createDiskActivities({ config }: Pick<ActivityDeps, 'config'>) {
  const scope = diskScope(config);
  return {
    ...createDiskRemovalActivities(scope),
    ...createDiskLogActivities(scope),
    ...createDiskArtifactActivities(scope),

    /**
     * Free space on the filesystem mounted at `resource` against `disk.minFree`. Once per step: a
     * re-run (a replay after Guardian died) returns the first measurement, so the replay runs the
     * cleanups the first run did (each returns its recorded result) and their undos stay on the stack.
     */
    async measureDisk({ resource }: { resource: string }): Promise<DiskMeasure> {
      return oncePerStep(config.stateDir, async () => scope.measure(resource));
    },

    /** Confirms free space is back over the threshold; returns when it was confirmed. */
    async verifyDisk({ resource }: { resource: string }): Promise<{ healthyAt: number; detail?: string }> {
      const m = scope.measure(resource);
      if (m.short > 0) {
        throw stillShort(
          resource,
          `${m.free} bytes free, ${m.short} short of the ${m.minFree} wanted`,
          'free space by hand',
        );
      }
      return { healthyAt: Date.now() };
    },
  };
}
