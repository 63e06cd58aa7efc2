import { proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { MemoryRelief } from '../lib/memory-relief.js';
import { localQuickActivity } from './activity-options.js';

const localQuick = proxyLocalActivities<GuardianActivities>(localQuickActivity);

/**
 * The undo of each lasting change out-of-memory makes, in one place: the incident's rollback
 * (its compensations) and `guardian clear out-of-memory` both put things back through these.
 */
export const undoRelief = {
  /** Puts the concurrency limit back to `limit`. */
  concurrency: (limit: number) =>
    localQuick.relieveMemory({ action: 'set-concurrency', body: { limit }, settleMs: 0, undo: true }),
  /** Puts low-memory mode back to `enabled` (off, unless it was on before). */
  lowMemoryMode: (enabled: boolean) =>
    localQuick.relieveMemory({ action: 'low-memory-mode', body: { enabled }, settleMs: 0, undo: true }),
  /** Puts feature `name` back to `enabled` (on, unless it was off before). */
  feature: (name: string, enabled: boolean) =>
    localQuick.relieveMemory({ action: 'feature', body: { name, enabled }, settleMs: 0, undo: true }),
  /** Loads the unloaded models again. */
  models: (models: string[]) => localQuick.reloadModels({ models }),
};

/**
 * Ends the memory relief in force as a rollback would: every change the ledger noted, newest
 * first, back to what was there before it; then low-memory mode off and `features` on, which a
 * Guardian that noted nothing (or the service's own start in low-memory mode) may have left.
 * Returns what it did, one phrase each.
 */
export async function endMemoryRelief(features: readonly string[]): Promise<string[]> {
  const done: string[] = [];
  const inForce = await localQuick.memoryReliefInForce();
  for (const relief of [...inForce].reverse()) done.push(await undoOne(relief));
  if (!inForce.some((r) => r.kind === 'low-memory-mode')) {
    await undoRelief.lowMemoryMode(false);
    done.push('low-memory mode off');
  }
  const on = features.filter((name) => !inForce.some((r) => r.kind === 'feature' && r.name === name));
  for (const name of on) await undoRelief.feature(name, true);
  if (on.length > 0) done.push(`${on.join(', ')} on`);
  return done;
}

async function undoOne(relief: MemoryRelief): Promise<string> {
  switch (relief.kind) {
    case 'concurrency':
      await undoRelief.concurrency(relief.previous);
      return `concurrency limit back to ${relief.previous}`;
    case 'low-memory-mode':
      await undoRelief.lowMemoryMode(relief.previous);
      return `low-memory mode ${relief.previous ? 'on as before' : 'off'}`;
    case 'feature':
      await undoRelief.feature(relief.name, relief.previous);
      return `${relief.name} ${relief.previous ? 'on' : 'off as before'}`;
    case 'models':
      await undoRelief.models([...relief.previous]);
      return `models ${relief.previous.join(', ')} loaded again`;
  }
}
