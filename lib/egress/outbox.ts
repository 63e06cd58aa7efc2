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

/**
 * Sends queued calls oldest first, each at most once: a call is marked `sending` before it
 * leaves; a socket error that proves it never left (connection refused, no route, DNS) puts it
 * back and stops the drain, so order holds; anything that may have reached the endpoint is never
 * sent again.
 */
export async function drainOutbox(
  store: EgressStore,
  limit: number,
  requestFor: (entry: OutboxEntry) => UpstreamRequest | undefined,
): Promise<DrainSummary> {
  const summary: DrainSummary = { sent: 0, failed: 0, unknown: 0, pending: 0, order: [] };
  for (let i = 0; i < limit; i++) {
    const entry = store.claimNext();
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
      break;
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
