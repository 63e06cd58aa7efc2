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
