import type { OutboxEntry, OutboxQueue } from './outbox-queue.js';
import { callUpstream, NOT_SENT_CODES, type UpstreamRequest } from './upstream.js';

/**
 * What one drain of the outbox did, counted from the outbox itself: every call the drain claimed,
 * in this attempt or in an earlier attempt of the same drain that Guardian died in, is in exactly
 * one of `sent`, `failed` and `unknown`; what is left is `pending`.
 */
export interface DrainSummary {
  sent: number;
  /** Delivered, but the endpoint refused it (5xx), or its endpoint is no longer configured; not sent again. */
  failed: number;
  /**
   * Possibly delivered (timeout, reset mid-call, Guardian died while sending it): never sent again,
   * reported for a person to check.
   */
  unknown: number;
  /** Still queued: the network went away again before they left. */
  pending: number;
  /** Ids in the order they were sent. */
  order: number[];
}

/** Calls the offline outbox holds at most; past it the proxy refuses to queue (the caller sees 503). */
export const OUTBOX_CAP = 10_000;

/**
 * Sends queued calls oldest first, each at most once: a call is marked `sending` (claimed by
 * `drain`) before it leaves; a socket error that proves it never left (connection refused, no
 * route, DNS) puts it back and leaves that endpoint's later calls queued, so each endpoint's order
 * holds while the other endpoints' calls still go; anything that may have reached the endpoint is
 * never sent again. `drain` names the drain: a retry of it after a crash passes the same one, and
 * its summary then counts what the crashed attempt did too. Calls left pending are counted in the
 * summary (the incident alerts on them).
 */
export async function drainOutbox(
  queue: OutboxQueue,
  drain: string,
  limit: number,
  requestFor: (entry: OutboxEntry) => UpstreamRequest | undefined,
): Promise<DrainSummary> {
  const unreachable: string[] = [];
  for (let i = 0; i < limit; i++) {
    const entry = queue.claimNext(drain, unreachable);
    if (!entry) break;
    const request = requestFor(entry);
    if (!request) {
      queue.settle(entry.id, 'failed', { error: `endpoint ${entry.endpoint} is no longer configured` });
      continue;
    }
    const result = await callUpstream(request);
    if (result.kind === 'error' && NOT_SENT_CODES.has(result.code)) {
      queue.settle(entry.id, 'pending', { error: result.code });
      unreachable.push(entry.endpoint);
      continue;
    }
    if (result.kind === 'reply') {
      queue.settle(entry.id, result.status >= 500 ? 'failed' : 'sent', { status: result.status });
    } else {
      queue.settle(entry.id, 'unknown', { error: result.kind === 'timeout' ? 'timeout' : result.code });
    }
  }
  const { sent, failed, unknown } = queue.counts(drain);
  return { sent, failed, unknown, pending: queue.pendingCount(), order: queue.sentOrder(drain) };
}
