import { continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';

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

const probe = proxyActivities<GuardianActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
});

/**
 * Child of network-unreachable: a durable timer loop that probes the network with backoff while
 * offline (re-asserting offline mode on every failed round) and returns when a round succeeds.
 * Continues as new every `probesPerRun` probes; gives up after `maxOfflineMs`.
 */
export async function offlineWatch(input: OfflineWatchInput): Promise<OfflineWatchResult> {
  let probes = input.probes;
  let lastProbe = 'no probe yet';
  for (let i = 0; i < input.probesPerRun && !workflowInfo().continueAsNewSuggested; i++) {
    const wait = input.backoffMs[Math.min(probes, input.backoffMs.length - 1)] ?? 60_000;
    if (Date.now() + wait - input.startedAt > input.maxOfflineMs) {
      return { restored: false, probes, offlineMs: Date.now() - input.startedAt, lastProbe };
    }
    await sleep(wait);
    const round = await probe.probeNetwork({ holdOffline: true });
    probes++;
    lastProbe = round.detail;
    if (round.up) return { restored: true, probes, offlineMs: Date.now() - input.startedAt, lastProbe };
  }
  return continueAsNew<typeof offlineWatch>({ ...input, probes });
}
