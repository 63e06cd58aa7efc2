import { ApplicationFailure, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { localQuickActivity, longActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { runIncident } from './incident-harness.js';
import { FailureType } from '../lib/failures.js';

/** Mode parameters of slow-boot. The incident's resource is the slow chunk (`boot`: whichever runs). */
export interface SlowBootParams {
  /** The service's name in guardian.yaml. */
  service: string;
  /** `defer`: a deferrable chunk moves to the background, others are skipped; `skip`: always skip. */
  onSlow: 'defer' | 'skip';
  /** How long the rest of boot may take once the chunk is out of the way. @default 10000 */
  bootTimeoutMs?: number;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
/** Waiting for boot to finish is a regular activity: see restartActivity. */
const long = proxyActivities<GuardianActivities>(longActivity);

/**
 * Failure mode 3. A boot chunk ran past its budget (or the whole boot past its own): the chunk
 * is skipped (reported degraded) or, when deferrable, moved to the background, through the
 * service's control hook; later boots do the same until rollback. A critical chunk is never
 * skipped: the incident fails with an alert. Rollback enables the chunk again for the next boot.
 */
export async function slowBoot(input: IncidentInput<SlowBootParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const chunk = await ctx.step(
      'inspect-boot',
      () => localQuick.inspectBootChunk({ chunk: input.resource }),
      undefined,
      {
        inspect: true,
      },
    );
    const ran = `${chunk.ranForMs} ms (budget ${chunk.budgetMs} ms)`;
    let action = 'none';
    if (chunk.state === 'running') {
      if (chunk.critical) {
        throw ApplicationFailure.nonRetryable(
          `boot chunk ${chunk.chunk} is critical and has run ${ran}; Guardian never skips a critical chunk. ` +
            'Investigate why it is slow (network calls during boot, heavy migrations, a model server that is not ready).',
          FailureType.CriticalChunkSlow,
        );
      }
      const kind = chunk.deferrable && input.params.onSlow === 'defer' ? 'defer' : 'skip';
      const done = await ctx.step(
        `${kind}-chunk`,
        () => localQuick.overrideBootChunk({ chunk: chunk.chunk, kind }),
        () => localQuick.enableBootChunk({ chunk: chunk.chunk }),
      );
      action = kind === 'skip' ? 'skipped (degraded)' : 'deferred to the background';
      ctx.note(`${chunk.chunk} ${action} after running ${ran}: ${done.effect}`);
    } else {
      ctx.note(`${chunk.chunk} was ${chunk.state} when inspected (${ran}); nothing to skip`);
    }
    await ctx.verify('verify', () => long.waitForBootDone({ timeoutMs: input.params.bootTimeoutMs ?? 10_000 }));
    if (action !== 'none') {
      await ctx.alert(
        `boot of ${input.params.service} was slow: chunk ${chunk.chunk} ran ${ran} and was ${action}; ` +
          'later boots do the same until this incident is rolled back. Investigate the chunk.',
        'warning',
      );
    }
  });
}
