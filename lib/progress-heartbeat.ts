import { Context } from '@temporalio/activity';

/** How far a long step is: what it is doing, and how much of how much (bytes or pages). */
export interface StepProgress {
  /** What the step is doing now, e.g. `copy world_model.db`. */
  phase: string;
  done: number;
  total: number;
  unit: 'bytes' | 'pages' | 'files';
  /** Since the step started (ms). */
  elapsedMs: number;
}

/** A handle the long step updates; the timer sends the latest value. */
export interface ProgressReporter {
  /** Sets the current phase and its size; done starts at 0. */
  phase(phase: string, total: number, unit: StepProgress['unit']): void;
  /** Updates how much of the current phase is done. */
  update(done: number, total?: number): void;
  /** The latest progress, as the heartbeat details carry it. */
  readonly current: StepProgress;
  /** Cancelled when Temporal cancels the activity (never, outside an activity). */
  readonly signal: AbortSignal | undefined;
}

/**
 * Runs a long step with a heartbeat from a timer, not from the step's own progress: a step
 * waiting on a worker thread or a slow disk still heartbeats, so it is neither timed out nor
 * deaf to cancellation; each heartbeat carries a {@link StepProgress}, which the Temporal UI
 * shows as the activity's heartbeat details. Outside an activity it simply runs the step.
 *
 * @param intervalMs how often to heartbeat; keep it well under the heartbeat timeout. @default 1000
 */
export async function withProgressHeartbeat<T>(
  fn: (progress: ProgressReporter) => Promise<T>,
  intervalMs = 1000,
): Promise<T> {
  const startedAt = Date.now();
  const state: StepProgress = { phase: 'starting', done: 0, total: 0, unit: 'bytes', elapsedMs: 0 };
  const context = activityContext();
  const reporter: ProgressReporter = {
    phase(phase, total, unit) {
      Object.assign(state, { phase, total, unit, done: 0 });
    },
    update(done, total) {
      state.done = done;
      if (total !== undefined) state.total = total;
    },
    get current() {
      return { ...state, elapsedMs: Date.now() - startedAt };
    },
    signal: context?.cancellationSignal,
  };
  if (!context || context.info.isLocal) return fn(reporter);
  const send = () => context.heartbeat(reporter.current);
  send();
  const timer = setInterval(send, intervalMs);
  try {
    return await fn(reporter);
  } finally {
    clearInterval(timer);
  }
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
