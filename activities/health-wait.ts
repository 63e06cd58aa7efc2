import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { beat } from '../lib/heartbeat.js';
import type { ServiceControl, ServiceHealth } from '../lib/service-control.js';

/** What one health answer means to a wait: what the step waited for (`detail`), or what it showed instead (`last`). */
export type HealthVerdict = { detail: string } | { last: string };

/** When the service answered as waited for, and how. */
export interface HealthyAt {
  healthyAt: number;
  detail: string;
}

/** How {@link waitForHealth} waits. */
export interface HealthWait {
  readonly timeoutMs: number;
  /** Runs before each health request; throws to stop waiting (the process exited, say). */
  readonly before?: () => void;
  /** Reads one health answer. */
  readonly judge: (health: ServiceHealth) => HealthVerdict;
  /** What did not happen in time; the error adds the last answer. */
  readonly timedOut: string;
}

/**
 * Asks the service's health route every 20 ms (each request may take 500 ms), heartbeating the
 * last answer, until `judge` finds what the step waits for; throws after `timeoutMs` with the
 * last answer. Stops at once when the step is cancelled.
 */
export async function waitForHealth(control: ServiceControl, wait: HealthWait): Promise<HealthyAt> {
  const deadline = Date.now() + wait.timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    wait.before?.();
    try {
      const verdict = wait.judge(await control.health(500));
      if ('detail' in verdict) return { healthyAt: Date.now(), detail: verdict.detail };
      last = verdict.last;
    } catch (err) {
      last = (err as Error).message;
    }
    beat(last);
    await sleep(20, undefined, { signal: Context.current().cancellationSignal });
  }
  throw new Error(`${wait.timedOut}: ${last}`);
}
