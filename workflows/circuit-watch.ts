import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { trialActivity } from './activity-options.js';
import { pollUntil } from './poll-until.js';

/** Input of {@link circuitWatch}; carried over continue-as-new. */
export interface CircuitWatchInput {
  endpoint: string;
  /** Trial timeouts while the endpoint misbehaves; the last repeats. @default [10000, 5000] */
  timeoutsMs: number[];
  /** Wait before each half-open trial. @default 60000 */
  retryIntervalMs: number;
  /** Give up (and alert) after the circuit has been open this long. */
  maxOpenMs: number;
  /** Trials per run before continue-as-new. @default 50 */
  trialsPerRun: number;
  startedAt: number;
  /** Trials made by earlier runs (each failure shortens the timeout). */
  trials: number;
}

/** How the watch ended. */
export interface CircuitWatchResult {
  recovered: boolean;
  trials: number;
  openMs: number;
  lastTrial: string;
}

const trial = proxyActivities<GuardianActivities>(trialActivity);

/**
 * Child of api-timeout: every `retryIntervalMs`, one half-open trial of the primary with a
 * timeout that shortens while it keeps failing; returns when a trial succeeds.
 */
export async function circuitWatch(input: CircuitWatchInput): Promise<CircuitWatchResult> {
  let trials = input.trials;
  let lastTrial = 'no trial yet';
  const end = await pollUntil({
    rounds: input.trialsPerRun,
    expired: () => Date.now() + input.retryIntervalMs - input.startedAt > input.maxOpenMs,
    wait: () => sleep(input.retryIntervalMs),
    attempt: async () => {
      const timeoutMs = input.timeoutsMs[Math.min(trials, input.timeoutsMs.length - 1)] ?? 5000;
      const result = await trial.trialPrimary({ endpoint: input.endpoint, timeoutMs });
      trials++;
      lastTrial = `${result.detail} in ${result.ms} ms (timeout ${timeoutMs} ms)`;
      return result.ok;
    },
  });
  if (end === 'continue') return continueAsNew<typeof circuitWatch>({ ...input, trials });
  return { recovered: end === 'succeeded', trials, openMs: Date.now() - input.startedAt, lastTrial };
}
