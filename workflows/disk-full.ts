import { proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { CleanupResult } from '../activities/disk.js';
import { localLongActivity, localQuickActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { runIncident } from './incident-harness.js';

/** Mode parameters of disk-full: none; the resource is the filesystem's mount point. */
export type DiskFullParams = Record<string, never>;

const quick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
const long = proxyLocalActivities<GuardianActivities>(localLongActivity);

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/**
 * Failure mode 5. Frees space on one filesystem, least harmful first, re-measuring after each step
 * and stopping once free space is back over the threshold: old temporary files, then old logs
 * compressed (lossless), then snapshots beyond the newest N, then artifacts moved to secondary
 * storage. Only inside configured directories, never through a symlink, never a file a process
 * holds open. What was freed stays freed if the incident fails; a rollback restores compressed
 * logs, trashed files and moved artifacts, and says what cannot come back.
 */
export async function diskFull(input: IncidentInput<DiskFullParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const resource = input.resource;
    const start = await ctx.step('measure', () => quick.measureDisk({ resource }), undefined, { inspect: true });
    let short = start.short;
    let freed = 0;
    const gone: string[] = [];
    const cleanups: [string, () => Promise<CleanupResult>, (r: CleanupResult) => Promise<unknown>][] = [
      [
        'clear-temp',
        () => long.clearTempFiles({ resource }),
        (r) => long.restoreRemovedFiles({ manifest: r.manifest }),
      ],
      [
        'compress-old-logs',
        () => long.compressOldLogs({ resource }),
        (r) => long.decompressLogs({ manifest: r.manifest }),
      ],
      [
        'remove-old-snapshots',
        () => long.removeOldSnapshots({ resource }),
        (r) => long.restoreRemovedFiles({ manifest: r.manifest }),
      ],
      ['move-artifacts', () => long.moveArtifacts({ resource }), (r) => long.returnArtifacts({ manifest: r.manifest })],
    ];
    for (const [name, run, undo] of cleanups) {
      if (short === 0) break;
      const result = await ctx.step(name, run, undo, { keepOnFailure: true });
      short = result.short;
      freed += result.freed;
      if (result.count > 0) ctx.note(`${name}: ${result.count} file(s), ${mb(result.freed)} freed`);
      if (result.count > 0 && !result.trash && name !== 'compress-old-logs' && name !== 'move-artifacts') {
        gone.push(
          `${name} deleted ${result.count} file(s) for good (no trash on secondary storage; list in ${result.manifest})`,
        );
      }
    }
    if (gone.length > 0) ctx.note(`cannot be undone: ${gone.join('; ')}`);
    if (short > 0) {
      await ctx.alert(
        `${resource} is still ${mb(short)} short of the ${mb(start.minFree)} wanted after freeing ${mb(freed)}. ` +
          'Nothing else in the guarded directories may be removed; free space by hand or add secondary storage.',
        'critical',
      );
    }
    await ctx.verify('verify', () => quick.verifyDisk({ resource }));
    await ctx.alert(
      `${resource} was down to ${mb(start.free)} free (threshold ${mb(start.minFree)}); freed ${mb(freed)}.` +
        (gone.length > 0 ? ` Cannot be undone: ${gone.join('; ')}.` : ''),
      gone.length > 0 ? 'warning' : 'info',
    );
  });
}
