import { Context } from '@temporalio/activity';

/**
 * Heartbeats the current activity, so a cancellation reaches it; a local activity (which cannot
 * heartbeat, and needs not: cancellation reaches it anyway) skips it.
 */
export function beat(details?: unknown): void {
  const ctx = Context.current();
  if (!ctx.info.isLocal) ctx.heartbeat(details);
}
