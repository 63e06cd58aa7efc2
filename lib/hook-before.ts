import type { ServiceControl, ServiceHealth } from './service-control.js';

/**
 * What a control hook is about to change, as the health route showed it before the call: the
 * value its reply would name `previous`. Journaled before the hook is called, so a re-run after a
 * crash between the hook's answer and the step's record still knows the value to put back.
 */
export interface HookBefore {
  /** Absent when the hook reports no `previous`, or the health route does not show it. */
  readonly previous?: number | boolean;
}

type Body = Readonly<Record<string, unknown>>;

/** For each hook that reports `previous`, the field of `/guardian/health` that shows it (docs/contract.md, section 5). */
const SHOWN_BY_HEALTH: Readonly<Record<string, (health: ServiceHealth, body: Body) => number | boolean | undefined>> = {
  'set-concurrency': (h) => (typeof h.concurrency === 'number' ? h.concurrency : undefined),
  'low-memory-mode': (h) => (typeof h.lowMemory === 'boolean' ? h.lowMemory : undefined),
  'offline-mode': (h) => (typeof h.offline === 'boolean' ? h.offline : undefined),
  feature: (h, body) =>
    typeof body.name === 'string' && Array.isArray(h.disabledFeatures)
      ? !h.disabledFeatures.includes(body.name)
      : undefined,
};

/** Reads {@link HookBefore} for a call of `action`; empty for a hook with no `previous` or a service that does not answer. */
export async function readHookBefore(control: ServiceControl, action: string, body: Body): Promise<HookBefore> {
  const shown = SHOWN_BY_HEALTH[action];
  if (!shown) return {};
  const health = await control.health().catch(() => undefined);
  const previous = health && shown(health, body);
  return previous === undefined ? {} : { previous };
}

/**
 * The hook's reply with `previous` taken from the journal when it was known there: the reply of a
 * re-run names the value its own first call had just set.
 */
export function withJournaledPrevious<R extends Record<string, unknown>>(reply: R, before: HookBefore): R {
  return before.previous === undefined ? reply : { ...reply, previous: before.previous };
}
