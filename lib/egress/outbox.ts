import type { EgressStore, OutboxEntry } from './store.js';
import { callUpstream, NOT_SENT_CODES, type UpstreamRequest } from './upstream.js';

/** What one drain of the outbox did. */
export interface DrainSummary {
  sent: number;
  /** Delivered, but the endpoint refused it (5xx); not sent again. */
  failed: number;
  /** Possibly delivered (timeout, reset mid-call): never sent again, reported for a person to check. */
  unknown: number;
  /** Still queued: the network went away again before they left. */
  pending: number;
  /** Ids in the order they were sent. */
  order: number[];
}

/** Calls the offline outbox holds at most; past it the proxy refuses to queue (the caller sees 503). */
export const OUTBOX_CAP = 10_000;

/**
 * Sends queued calls oldest first, each at most once: a call is marked `sending` before it
 * leaves; a socket error that proves it never left (connection refused, no route, DNS) puts it
 * back and leaves that endpoint's later calls queued, so each endpoint's order holds while the
 * other endpoints' calls still go; anything that may have reached the endpoint is never sent
 * again. Calls left pending are counted in the summary (the incident alerts on them).
 */
export async function drainOutbox(
  store: EgressStore,
  limit: number,
  requestFor: (entry: OutboxEntry) => UpstreamRequest | undefined,
): Promise<DrainSummary> {
  const summary: DrainSummary = { sent: 0, failed: 0, unknown: 0, pending: 0, order: [] };
  const unreachable: string[] = [];
  for (let i = 0; i < limit; i++) {
    const entry = store.claimNext(unreachable);
    if (!entry) break;
    const request = requestFor(entry);
    if (!request) {
      store.settle(entry.id, 'failed', { error: `endpoint ${entry.endpoint} is no longer configured` });
      summary.failed++;
      continue;
    }
    const result = await callUpstream(request);
    if (result.kind === 'error' && NOT_SENT_CODES.has(result.code)) {
      store.settle(entry.id, 'pending', { error: result.code });
      unreachable.push(entry.endpoint);
      continue;
    }
    summary.order.push(entry.id);
    if (result.kind === 'reply') {
      const state = result.status >= 500 ? 'failed' : 'sent';
      store.settle(entry.id, state, { status: result.status });
      summary[state]++;
    } else {
      store.settle(entry.id, 'unknown', { error: result.kind === 'timeout' ? 'timeout' : result.code });
      summary.unknown++;
    }
  }
  summary.pending = store.outbox(['pending']).length;
  return summary;
}
