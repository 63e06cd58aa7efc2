import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { probeActivity } from './activity-options.js';
import { pollUntil } from './poll-until.js';

/** Input of {@link offlineWatch}; carried over continue-as-new. */
export interface OfflineWatchInput {
  /** Waits between probes; the last repeats. @default [10000, 30000, 60000] */
  backoffMs: number[];
  /** Give up (and alert) after this long offline. */
  maxOfflineMs: number;
  /** Probes per run before continue-as-new keeps the history small. @default 50 */
  probesPerRun: number;
  /** When offline mode began (epoch ms). */
  startedAt: number;
  /** Probes made by earlier runs. */
  probes: number;
}

/** How the watch ended. */
export interface OfflineWatchResult {
  restored: boolean;
  probes: number;
  offlineMs: number;
  lastProbe: string;
}

const probe = proxyActivities<GuardianActivities>(probeActivity);

/**
 * Child of network-unreachable: a durable timer loop that probes the network with backoff while
 * offline (re-asserting offline mode on every failed round) and returns when a round succeeds.
 * Continues as new every `probesPerRun` probes; gives up after `maxOfflineMs`.
 */
export async function offlineWatch(input: OfflineWatchInput): Promise<OfflineWatchResult> {
  let probes = input.probes;
  let lastProbe = 'no probe yet';
  const waitMs = () => input.backoffMs[Math.min(probes, input.backoffMs.length - 1)] ?? 60_000;
  const end = await pollUntil({
    rounds: input.probesPerRun,
    expired: () => Date.now() + waitMs() - input.startedAt > input.maxOfflineMs,
    wait: () => sleep(waitMs()),
    attempt: async () => {
      const round = await probe.probeNetwork({ holdOffline: true });
      probes++;
      lastProbe = round.detail;
      return round.up;
    },
  });
  if (end === 'continue') return continueAsNew<typeof offlineWatch>({ ...input, probes });
  return { restored: end === 'succeeded', probes, offlineMs: Date.now() - input.startedAt, lastProbe };
}
