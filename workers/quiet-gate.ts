import { raiseAlert } from '../lib/alerts.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { Ledger, Quiet } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import type { Finding } from '../lib/modes.js';

/** Findings suppressed for one quiet mode+resource since the last write to the ledger. */
interface Unwritten {
  count: number;
  lastReminderAt: number;
}

/**
 * Keeps findings for paused or held resources from starting workflows. What is quiet is read
 * from the ledger once and cached until the ledger changes (this process's writes or another's,
 * such as `guardian resume` in another terminal) or a hold runs out, so a detector tick costs a
 * map lookup. Suppressed findings are counted in memory; the ledger is written only when a
 * reminder is due (one per `incidents.reminderInterval`), never once per tick.
 */
export class QuietGate {
  private quiet = new Map<string, Quiet>();
  private version: string | undefined;
  private nextExpiry = Number.POSITIVE_INFINITY;
  private readonly unwritten = new Map<string, Unwritten>();

  constructor(
    private readonly ledger: Ledger,
    private readonly config: GuardianConfig,
    private readonly logger: Logger,
  ) {}

  /** Why this finding must start no workflow (paused or held), or undefined to let it through. */
  suppresses(finding: Finding, now = Date.now()): Quiet | undefined {
    this.refresh(now);
    const key = keyOf(finding.mode, finding.resource);
    const quiet = this.quiet.get(key);
    if (!quiet) {
      this.unwritten.delete(key);
      return undefined;
    }
    let entry = this.unwritten.get(key);
    if (!entry) {
      const written = this.ledger.holds.suppression(finding.mode, finding.resource);
      entry = { count: 0, lastReminderAt: Math.max(quiet.since, written?.remindedAt ?? 0) };
      this.unwritten.set(key, entry);
    }
    entry.count++;
    if (now - entry.lastReminderAt >= this.config.incidents.reminderInterval) this.remind(quiet, entry, now);
    return quiet;
  }

  private remind(quiet: Quiet, entry: Unwritten, now: number): void {
    const { mode, resource } = quiet;
    this.ledger.holds.suppress(mode, resource, quiet.since, 0, now, entry.count);
    const total = this.ledger.holds.suppression(mode, resource)?.count ?? entry.count;
    entry.count = 0;
    entry.lastReminderAt = now;
    const state =
      quiet.kind === 'paused'
        ? `paused by flap protection since ${new Date(quiet.since).toISOString()} (${quiet.reason})`
        : `on hold since ${new Date(quiet.since).toISOString()} (${quiet.reason})`;
    raiseAlert(
      { ledger: this.ledger, logger: this.logger, config: this.config },
      {
        key: `reminder:${mode}:${resource}:${now}`,
        at: now,
        mode,
        resource,
        severity: 'warning',
        message:
          `${mode} on ${resource} is still failing (${total} detection(s) while quiet) and is ${state}. ` +
          `Guardian will not remediate it; once it is safe, run: guardian resume ${mode} ${resource}`,
      },
    ).catch((err: unknown) => this.logger.error({ err, mode, resource }, 'could not raise the reminder alert'));
  }

  /** Reloads what is quiet when the ledger changed or a hold ran out. */
  private refresh(now: number): void {
    const version = this.ledger.version();
    if (version === this.version && now < this.nextExpiry) return;
    const all = this.ledger.quietAll(now);
    this.quiet = new Map(all.map((q) => [keyOf(q.mode, q.resource), q]));
    this.nextExpiry = Math.min(Number.POSITIVE_INFINITY, ...all.map((q) => q.until ?? Number.POSITIVE_INFINITY));
    this.version = this.ledger.version();
  }
}

function keyOf(mode: string, resource: string): string {
  return `${mode}\u0000${resource}`;
}
