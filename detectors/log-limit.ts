/**
 * Rate limit of log-driven findings, per resource: anyone who can make the service log a line can
 * write one, so a flood of lines must not become a flood of incidents (nor trip flap protection
 * and switch real protection off). Allows `burst` findings per resource per `windowMs`.
 */
export class LogFindingLimit {
  private readonly recent = new Map<string, number[]>();

  constructor(
    /** @default 60000 */
    private readonly windowMs = 60_000,
    /** @default 10 */
    private readonly burst = 10,
  ) {}

  /** True when a finding about `resource` may be reported now (and counts it). */
  allow(resource: string, now = Date.now()): boolean {
    const times = (this.recent.get(resource) ?? []).filter((t) => now - t < this.windowMs);
    if (times.length >= this.burst) {
      this.recent.set(resource, times);
      return false;
    }
    times.push(now);
    this.recent.set(resource, times);
    return true;
  }
}

/**
 * The claims of log lines, confirmed before they become findings: a line about a resource starts
 * at most one confirmation at a time for it (lines arriving meanwhile are covered by it), and
 * confirmations per resource are rate-limited by a {@link LogFindingLimit}. Only what `confirm`
 * finds is reported; a failed or empty confirmation reports nothing.
 */
export class LogClaims {
  private readonly confirming = new Set<string>();

  constructor(
    /** Shared with direct findings of the same detector, if it has any. @default a new {@link LogFindingLimit} */
    readonly limit = new LogFindingLimit(),
  ) {}

  /** Confirms a claim about `resource` unless one is under way or its limit is spent; `onConfirmed` gets what it found. */
  check<T>(resource: string, confirm: () => Promise<T | undefined>, onConfirmed: (found: T) => void): void {
    if (this.confirming.has(resource) || !this.limit.allow(resource)) return;
    this.confirming.add(resource);
    void confirm()
      .then((found) => {
        if (found !== undefined) onConfirmed(found);
      })
      .catch(() => undefined)
      .finally(() => this.confirming.delete(resource));
  }
}
