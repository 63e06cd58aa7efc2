import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { ReliefResult } from '../activities/memory.js';
import { localQuickActivity, longActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { runIncident } from './incident-harness.js';
import { undoRelief } from './memory-relief.js';

/** Mode parameters of out-of-memory. */
export interface OutOfMemoryParams {
  /** A guarded service whose control hooks can free memory. */
  service: boolean;
  /** Concurrency limit while memory is short. */
  concurrency: number;
  /** Non-essential features switched off in low-memory mode. */
  disableFeatures: string[];
  /** How long the last check waits for memory to come down. @default 5000 */
  settleMs: number;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
// Waiting for memory to settle can take seconds: a regular activity, so signals are not held up behind it.
const long = proxyActivities<GuardianActivities>(longActivity);

/**
 * Failure mode 4. Frees memory in rising order of cost, measuring after each step and stopping as
 * soon as memory is under every threshold: clear the service's caches and collect garbage; limit
 * concurrency and flush buffered logs; unload the model server's models; and only if memory is
 * still short, low-memory mode with non-essential features off, and an alert. Those last steps
 * stay in force if the incident fails; a rollback undoes all of them.
 */
export async function outOfMemory(input: IncidentInput<OutOfMemoryParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const { service, concurrency, disableFeatures, settleMs } = input.params;
    let last: ReliefResult = await ctx.step('measure', () => localQuick.checkMemory(), undefined, { inspect: true });
    const relieve =
      (action: string, body: Record<string, unknown> = {}) =>
      () =>
        localQuick.relieveMemory({ action, body });
    const done = () => last.healthy;
    // The service's own MemoryError means trouble even when the numbers look fine: free its caches.
    const reported = input.evidence.startsWith('service log:');

    if (service && (!done() || reported)) {
      // Cleared buffers leave RSS only once collected: measure at once, the collection step waits.
      last = await ctx.step('clear-caches', () => localQuick.relieveMemory({ action: 'clear-caches', settleMs: 0 }));
      if (!done() || reported) last = await ctx.step('collect-garbage', relieve('release-memory'));
      if (!done()) {
        last = await ctx.step(
          'limit-concurrency',
          relieve('set-concurrency', { limit: concurrency }),
          (r) => undoRelief.concurrency(numberOr(r.reply?.previous, concurrency)),
          { keepOnFailure: true },
        );
      }
      if (!done()) last = await ctx.step('flush-logs', relieve('flush-logs'));
    }
    if (!done()) {
      const unloaded = await ctx.step(
        'unload-models',
        () => localQuick.unloadModels({}),
        (r) => undoRelief.models(r.models),
        { keepOnFailure: true },
      );
      if (unloaded.models.length > 0) ctx.note(`unloaded ${unloaded.models.join(', ')}`);
      last = unloaded;
    }
    if (service && !done()) {
      last = await ctx.step(
        'low-memory-mode',
        relieve('low-memory-mode', { enabled: true }),
        (r) => undoRelief.lowMemoryMode(r.reply?.previous === true),
        { keepOnFailure: true },
      );
      for (const name of disableFeatures) {
        last = await ctx.step(
          `disable-${name}`,
          relieve('feature', { name, enabled: false }),
          (r) => undoRelief.feature(name, r.reply?.previous !== false),
          { keepOnFailure: true },
        );
      }
      await ctx.alert(
        `memory is still short after freeing caches, limiting concurrency and unloading models (${last.problems.join('; ')}); ` +
          `the service is in low-memory mode with ${disableFeatures.join(', ') || 'no feature'} switched off. Investigate what holds the memory.`,
        'critical',
      );
    }
    await ctx.verify('verify', () =>
      last.healthy ? localQuick.waitForMemory({ timeoutMs: 0 }) : long.waitForMemory({ timeoutMs: settleMs }),
    );
  });
}

/** The control hook's reply value when it is a number (the limit before), else `fallback`. */
function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}
