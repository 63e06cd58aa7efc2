import {
  ApplicationFailure,
  executeChild,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { DrainSummary } from '../lib/egress/outbox.js';
import { localQuickActivity, longActivity } from './activity-options.js';
import { type IncidentInput, type IncidentResult, incidentWorkflowId } from './definitions.js';
import { type IncidentContext, runIncident } from './incident-harness.js';
import { offlineWatch } from './offline-watch.js';
import { FailureType } from '../lib/failures.js';

/** Mode parameters of network-unreachable (durations are inputs so tests can shorten them). */
export interface NetworkUnreachableParams {
  /** Waits between probes while offline; the last repeats. @default [10000, 30000, 60000] */
  backoffMs: number[];
  /** How long to stay offline before giving up with an alert. @default 604800000 (7 d) */
  maxOfflineMs: number;
  /** Probes per watch run before continue-as-new. @default 50 */
  probesPerRun?: number;
  /** Whether a guarded service gets the offline-mode control hook too. */
  serviceControlled: boolean;
}

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
const long = proxyActivities<GuardianActivities>(longActivity);

/**
 * Failure mode 6. Enters offline mode (the egress proxy answers GETs from its cache and queues
 * other calls; the service is told too), verifies it, then a child workflow probes with backoff
 * until the network is back. Then it leaves offline mode and sends the queued calls in order,
 * each at most once. Rollback does the same at once.
 */
export async function networkUnreachable(input: IncidentInput<NetworkUnreachableParams>): Promise<IncidentResult> {
  // Derived from the input, not workflowInfo(), so a recorded history replays under any workflow ID.
  const incidentId = incidentWorkflowId(input.mode, input.host, input.resource);
  const { runId } = workflowInfo();
  const { backoffMs, maxOfflineMs, probesPerRun = 50, serviceControlled } = input.params;
  return runIncident(input, async (ctx) => {
    // Offline mode is good only while the watch below looks for the network: an incident that
    // fails leaves it (the detector, paused while it is on, then reports an outage that lasts
    // again), and so does a step that failed after acting.
    const leaveOffline = async () => {
      await localQuick.exitOfflineMode();
      await reportDrain(ctx, await long.drainOutbox());
    };
    await ctx.step('enter-offline-mode', () => localQuick.enterOfflineMode(), leaveOffline, {
      undoFailed: leaveOffline,
    });
    if (serviceControlled) {
      await ctx.step(
        'service-offline-mode',
        () => localQuick.setServiceOfflineMode({ enabled: true }),
        ({ previous }) => localQuick.setServiceOfflineMode({ enabled: previous ?? false }),
        { undoFailed: () => localQuick.setServiceOfflineMode({ enabled: false }) },
      );
    }
    await ctx.verify('verify-offline', () => localQuick.verifyOfflineMode());
    await ctx.alert(
      `network unreachable (${input.evidence}); offline mode is on: cached replies are served and outbound writes are queued`,
      'warning',
    );

    const watch = await ctx.step('await-network', () =>
      executeChild(offlineWatch, {
        workflowId: `${incidentId}:watch:${runId.slice(0, 8)}`,
        args: [{ backoffMs, maxOfflineMs, probesPerRun, startedAt: Date.now(), probes: 0 }],
      }),
    );
    if (!watch.restored) {
      throw ApplicationFailure.nonRetryable(
        `the network is still unreachable after ${Math.round(watch.offlineMs / 60_000)} min (${watch.lastProbe}); offline mode was left, and an outage that lasts is detected again`,
        FailureType.StillOffline,
      );
    }
    if (serviceControlled) await ctx.step('service-online', () => localQuick.setServiceOfflineMode({ enabled: false }));
    await ctx.step('exit-offline-mode', () => localQuick.exitOfflineMode());
    const drained = await ctx.step('retry-queued-operations', () => long.drainOutbox());
    await reportDrain(
      ctx,
      drained,
      `network back after ${Math.round(watch.offlineMs / 1000)} s (${watch.probes} probe(s)); `,
    );
  });
}

/** The outcome of a drain in words: every call it claimed was sent, refused or unknown; the rest are still queued. */
export function describeDrain(drained: DrainSummary): string {
  return `queued calls: ${drained.sent} sent, ${drained.failed} refused, ${drained.unknown} unknown, ${drained.pending} still queued`;
}

/**
 * Notes a drain's outcome in the summary (one note, after `lead`) and alerts on every call a person
 * must look at: refused, unknown (it may have arrived; Guardian never sends it again) and still queued.
 */
async function reportDrain(
  ctx: IncidentContext<NetworkUnreachableParams>,
  drained: DrainSummary,
  lead = '',
): Promise<void> {
  ctx.note(`${lead}${describeDrain(drained)}`);
  if (drained.failed + drained.unknown + drained.pending === 0) return;
  await ctx.alert(
    `${drained.failed} queued call(s) were refused, ${drained.unknown} may or may not have arrived (Guardian never sends ` +
      `those again: check them at their endpoint), and ${drained.pending} are still queued (their endpoint could not be ` +
      `reached); none is sent twice. They are listed in the outbox table of egress.db in Guardian's state directory ` +
      `(guardian status counts them).`,
    'warning',
  );
}
