import { CancelledFailure, Context } from '@temporalio/activity';

function context(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // a direct call, outside any activity
  }
}

/**
 * Heartbeats the current activity, so a cancellation reaches it; a local activity (which cannot
 * heartbeat, and needs not: cancellation reaches it anyway) and a direct call skip it.
 */
export function beat(details?: unknown): void {
  const ctx = context();
  if (ctx && !ctx.info.isLocal) ctx.heartbeat(details);
}

/** The current activity's cancellation signal; a signal that never fires outside an activity. */
export function cancellationSignal(): AbortSignal {
  return context()?.cancellationSignal ?? new AbortController().signal;
}

/** Throws `CancelledFailure` when the activity was cancelled: call it between units of work. */
export function throwIfCancelled(): void {
  const signal = cancellationSignal();
  if (signal.aborted) throw new CancelledFailure(`cancelled: ${String(signal.reason ?? 'cancellation requested')}`);
}

/** True when `err` is the cancellation of the activity (its signal's abort, or a CancelledFailure). */
export function isActivityCancellation(err: unknown): boolean {
  return (
    err instanceof CancelledFailure ||
    (err instanceof Error && err.name === 'AbortError' && cancellationSignal().aborted)
  );
}

/**
 * Runs `work` while a timer heartbeats every `intervalMs` with what `progress` says: a step busy in
 * one long call (a copy, a checksum) still heartbeats, so its cancellation is delivered and a
 * dead worker is noticed. The work sees the activity's cancellation signal.
 */
export async function withHeartbeat<T>(
  work: (signal: AbortSignal) => Promise<T>,
  progress: () => unknown = () => undefined,
  intervalMs = 1000,
): Promise<T> {
  beat(progress());
  const timer = setInterval(() => beat(progress()), intervalMs);
  try {
    return await work(cancellationSignal());
  } finally {
    clearInterval(timer);
  }
}
