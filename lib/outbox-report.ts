import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OutboxCounts } from './egress/outbox-queue.js';
import { EgressStore } from './egress/store.js';

/** The offline outbox's calls in each state, from `egress.db`; null when Guardian has no egress state. Reads only. */
export function outboxReport(stateDir: string): OutboxCounts | null {
  const file = join(stateDir, 'egress.db');
  if (!existsSync(file)) return null;
  const store = new EgressStore(file);
  try {
    return store.outbox.counts();
  } finally {
    store.close();
  }
}

/**
 * The outbox as one line for `guardian status`, when any call is still queued, being sent, refused
 * or of unknown outcome: every call is in exactly one of those states or sent. Empty otherwise.
 */
export function renderOutbox(counts: OutboxCounts | null, stateDir: string): string {
  if (!counts || counts.pending + counts.sending + counts.failed + counts.unknown === 0) return '';
  const parts = [
    `${counts.pending} queued`,
    ...(counts.sending > 0 ? [`${counts.sending} being sent`] : []),
    `${counts.sent} sent`,
    `${counts.failed} refused`,
    `${counts.unknown} unknown (may have arrived; Guardian never sends them again: check them at their endpoint)`,
  ];
  return `offline outbox: ${parts.join(', ')}; listed in the outbox table of ${join(stateDir, 'egress.db')}\n`;
}
