import type { Logger } from './logger.js';
import type { AlertOutbox, OutboxAlert } from './alert-outbox.js';

/** Tunables of {@link AlertDeliverer}; tests shorten them. */
export interface DelivererOptions {
  /** How often the outbox is checked for due alerts. @default 1000 */
  readonly intervalMs?: number;
  /** One delivery's time limit. @default 5000 */
  readonly timeoutMs?: number;
  /** First pause after a failed delivery; doubles per failure. @default 1000 */
  readonly firstBackoffMs?: number;
  /** Longest pause between two tries of one alert. @default 300000 */
  readonly maxBackoffMs?: number;
  /** An alert not delivered this long after it was raised is abandoned (and logged). @default 86400000 */
  readonly maxAgeMs?: number;
  /** Alerts sent per check at most. @default 20 */
  readonly batch?: number;
}

/** What one pass over the outbox did. */
export interface DeliveryPass {
  delivered: number;
  failed: number;
  abandoned: number;
}

/**
 * Delivers the alert outbox to the webhook in the background: oldest first, each alert POSTed
 * with its key as `id` and `Idempotency-Key`, a failure recorded on the alert and retried with
 * a growing pause, bounded by age. After one failure the pass stops, so an unreachable webhook
 * costs one request per check, not one per alert.
 */
export class AlertDeliverer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DeliveryPass> | undefined;
  private readonly options: Required<DelivererOptions>;

  constructor(
    private readonly outbox: AlertOutbox,
    private readonly webhook: string | undefined,
    private readonly logger: Logger,
    options: DelivererOptions = {},
  ) {
    this.options = {
      intervalMs: 1000,
      timeoutMs: 5000,
      firstBackoffMs: 1000,
      maxBackoffMs: 300_000,
      maxAgeMs: 86_400_000,
      batch: 20,
      ...options,
    };
  }

  /** Starts the periodic checks (none without a webhook). */
  start(): void {
    if (!this.webhook || this.timer) return;
    this.timer = setInterval(() => {
      this.deliverDue().catch((err: unknown) => this.logger.error({ err }, 'alert delivery pass failed'));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the checks and waits for a pass in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over the due alerts; a pass already running is joined, not doubled. */
  deliverDue(now = Date.now()): Promise<DeliveryPass> {
    this.running ??= this.pass(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(now: number): Promise<DeliveryPass> {
    const result: DeliveryPass = { delivered: 0, failed: 0, abandoned: 0 };
    if (!this.webhook) return result;
    for (const alert of this.outbox.due(now, this.options.batch)) {
      const error = await this.post(this.webhook, alert);
      if (error === undefined) {
        this.outbox.delivered(alert.key, Date.now());
        result.delivered++;
        continue;
      }
      const abandon = Date.now() - alert.at > this.options.maxAgeMs;
      const backoff = Math.min(this.options.maxBackoffMs, this.options.firstBackoffMs * 2 ** alert.attempts);
      this.outbox.failed(alert.key, error, Date.now() + backoff, abandon);
      if (abandon) {
        result.abandoned++;
        this.logger.error(
          { alert: alert.key, attempts: alert.attempts + 1, error },
          `alert ${alert.key} could not be delivered to the webhook for ${Math.round(this.options.maxAgeMs / 60_000)} min; ` +
            'it stays in the ledger and the alert log (guardian status lists it)',
        );
      } else {
        result.failed++;
        this.logger.warn(
          { alert: alert.key, attempts: alert.attempts + 1, error },
          'alert delivery failed; will retry',
        );
      }
      break;
    }
    return result;
  }

  /** POSTs one alert; returns what went wrong, or undefined when the webhook took it. */
  private async post(url: string, alert: OutboxAlert): Promise<string | undefined> {
    const { key, at, workflowId, mode, resource, severity, message } = alert;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ id: key, at, workflowId, mode, resource, severity, message }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await res.body?.cancel();
      return res.ok ? undefined : `the webhook answered ${res.status}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return cause ?? (err instanceof Error ? err.message : String(err));
    }
  }
}
