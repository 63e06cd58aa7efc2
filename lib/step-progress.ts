/** How far a long step is, as its heartbeat details carry it (the Temporal UI shows them). */
export interface StepProgressDetails {
  /** What the step is doing now, e.g. `copying world_model.db`. */
  phase: string;
  done: number;
  total: number;
  unit: 'bytes';
  /** Since the step started (ms). */
  elapsedMs: number;
}

/**
 * The progress of a long step in bytes: the step sets phases and counts bytes; the heartbeat
 * timer (`withHeartbeat(work, progress.details)`) sends the latest.
 */
export class StepProgress {
  private phase = 'starting';
  private done = 0;
  private total = 0;
  private readonly startedAt = Date.now();

  /** Starts a phase of `total` bytes. */
  start(phase: string, total = 0): void {
    this.phase = phase;
    this.done = 0;
    this.total = total;
  }

  /** Counts bytes done in the current phase (pass it where an `onBytes` callback is taken). */
  readonly add = (bytes: number): void => {
    this.done += bytes;
  };

  /** The heartbeat details now. */
  readonly details = (): StepProgressDetails => ({
    phase: this.phase,
    done: this.done,
    total: this.total,
    unit: 'bytes',
    elapsedMs: Date.now() - this.startedAt,
  });
}
