import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { longActivity, quickActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { runIncident } from './incident-harness.js';
import { FailureType } from '../lib/failures.js';

/** Mode parameters of database-corruption. */
export interface DatabaseCorruptionParams {
  /** Name of the database in guardian.yaml. */
  database: string;
  /** Whether a guarded service holds connections to it (close/reopen through control hooks). */
  serviceConnected: boolean;
  /** How long to wait for the service to report the database healthy again. @default 10000 */
  healthTimeoutMs?: number;
  /** How long the service may take to reopen its connections (a large database opens slowly). @default 120000 */
  reopenTimeoutMs?: number;
}

const quick = proxyActivities<GuardianActivities>(quickActivity);
/** Steps that only look: observe mode runs them. */
const inspect = { inspect: true } as const;
const long = proxyActivities<GuardianActivities>(longActivity);

/**
 * Failure mode 1. Closes the service's connections, copies the file set aside, runs
 * integrity_check; a sound file gets `wal_checkpoint(TRUNCATE)`, a damaged one the newest verified
 * backup. Then reopens and verifies. Good data once in place stays when a later step fails; only a
 * rollback puts the pre-remediation files back byte-identical, after copying the live files aside,
 * and it refuses (unless forced) when the database was written since the heal.
 */
export async function databaseCorruption(input: IncidentInput<DatabaseCorruptionParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const { database, serviceConnected } = input.params;
    const databases = [database];
    if (serviceConnected) {
      await ctx.step(
        'close-connections',
        () => quick.callControlHook({ action: 'close-connections', body: { databases } }),
        () => quick.callControlHook({ action: 'reopen-connections', body: { databases } }),
      );
    }
    const quarantine = await ctx.step(
      'copy-aside',
      () => long.quarantineDatabaseFiles({ database }),
      async ({ dir }) => {
        const rollback = await long.restoreQuarantinedFiles({ database, dir, force: ctx.rollbackForced });
        if (rollback.kept) ctx.note(`the live files replaced by the rollback are kept in ${rollback.kept}`);
        if (rollback.discarded)
          ctx.note(`forced rollback set aside writes made since the heal (${rollback.discarded})`);
      },
      // What the heal put in place (a checkpointed file, the backup) stays when a later step
      // fails; only an operator's rollback brings the original files back.
      { keepOnFailure: true },
    );
    ctx.note(`original files kept in ${quarantine.dir}`);
    const inspection = await ctx.step('integrity-check', () => long.inspectDatabase({ database }), undefined, inspect);

    if (inspection.verdict === 'locked') {
      const holders = await ctx.step(
        'find-lock-holders',
        () => quick.findLockHolders({ database }),
        undefined,
        inspect,
      );
      const who = holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ') || 'an unknown process';
      throw ApplicationFailure.nonRetryable(
        `${database} stays locked by ${who}, which Guardian did not start; it was not touched. Stop it; the next detection then starts a new incident.`,
        FailureType.ForeignLockHolder,
      );
    }
    if (inspection.verdict === 'ok') {
      const checkpoint = await ctx.step('wal-checkpoint', () =>
        long.checkpointDatabase({ database, quarantineDir: quarantine.dir }),
      );
      ctx.note(`integrity ok; WAL checkpointed (${checkpoint.walBytesBefore} → ${checkpoint.walBytesAfter} bytes)`);
    } else {
      const restore = await ctx.step(
        'restore-last-good-backup',
        () => long.restoreLastGoodBackup({ database, quarantineDir: quarantine.dir }),
        undefined,
        // Failed short of its commit point (a retry that failed after Guardian died mid-step, say):
        // the damaged file's -wal/-shm it moved aside come back beside it, so nothing is left worse.
        { undoFailed: () => long.undoBackupRestore({ database, quarantineDir: quarantine.dir }) },
      );
      const loss = describeLoss(restore.rowsBefore, restore.rowsAfter);
      ctx.note(`${inspection.verdict}: restored backup taken ${Math.round(restore.backupAgeMs / 1000)} s before`);
      await ctx.alert(
        `${database} was ${inspection.verdict === 'notadb' ? 'not a database any more' : 'corrupt'} (${inspection.problems[0] ?? ''}). ` +
          `Restored the backup taken ${Math.round(restore.backupAgeMs / 1000)} s earlier; writes since then may be lost (${loss}). ` +
          `The damaged files are kept in ${quarantine.dir}.`,
        'warning',
      );
    }
    if (serviceConnected) {
      const timeoutMs = input.params.reopenTimeoutMs ?? 120_000;
      await ctx.step(
        'reopen-connections',
        () => long.callControlHook({ action: 'reopen-connections', body: { databases }, timeoutMs }),
        () => quick.callControlHook({ action: 'close-connections', body: { databases } }),
        { keepOnFailure: true },
      );
    }
    await ctx.verify('verify', async () => {
      const file = await long.verifyDatabase({ database });
      if (!serviceConnected) return file;
      // Only the databases the service reports are waited for; one it does not expose was checked above.
      const service = await long.waitForServiceHealth({ databases, timeoutMs: input.params.healthTimeoutMs ?? 10_000 });
      return { healthyAt: service.healthyAt, ...(service.detail ? { detail: service.detail } : {}) };
    });
  });
}

function describeLoss(before: Record<string, number | null>, after: Record<string, number | null>): string {
  const tables = Object.keys(after);
  if (tables.length === 0) return 'row counts unknown';
  return tables.map((t) => `${t}: ${before[t] ?? 'unreadable'} → ${after[t]}`).join(', ');
}
