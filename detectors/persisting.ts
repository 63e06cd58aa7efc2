/** The first pause before a fault that persists is reported again, and the cap of the doubling. */
export const REPEAT_FIRST_MS = 2000;
/** @see REPEAT_FIRST_MS */
export const REPEAT_MAX_MS = 300_000;

/** Pauses of a {@link PersistingFault}: the first re-report, and the cap of the doubling. */
export interface PersistingFaultOptions {
  /** @default 2000 */
  readonly firstMs?: number;
  /** @default 300000 */
  readonly maxMs?: number;
}

/**
 * Re-reports a fault that an event announced once, for as long as it persists, with a doubling
 * pause (first `firstMs`, capped at `maxMs`). An event-only detector otherwise goes quiet once the
 * incident its event opened has failed or been rolled back, and a fault that outlived it (a port
 * still taken, a boot chunk still running past its budget) would stay without an incident for
 * good. While the incident still runs, a re-report only joins it; for a held or paused resource
 * the starter drops it. The pauses bound the re-reports to a few an hour once the fault lasts.
 */
export class PersistingFault {
  private readonly firstMs: number;
  private readonly maxMs: number;
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(options: PersistingFaultOptions = {}) {
    this.firstMs = options.firstMs ?? REPEAT_FIRST_MS;
    this.maxMs = options.maxMs ?? REPEAT_MAX_MS;
  }

  /**
   * Watches the fault `key`: after each pause, `check` says whether it persists (its evidence) or
   * not (`undefined`, which ends the watch); while it does, `report` gets the evidence. Watching
   * a key already watched keeps the running watch.
   */
  watch(key: string, check: () => string | undefined, report: (evidence: string) => void): void {
    if (this.timers.has(key)) return;
    const next = (delayMs: number) => {
      const timer = setTimeout(() => {
        const evidence = check();
        if (evidence === undefined) {
          this.timers.delete(key);
          return;
        }
        report(evidence);
        next(Math.min(delayMs * 2, this.maxMs));
      }, delayMs);
      timer.unref();
      this.timers.set(key, timer);
    };
    next(this.firstMs);
  }

  /** Ends every watch. */
  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
