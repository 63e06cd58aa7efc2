import { join } from 'node:path';
import ms from 'ms';
import { loadConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { Ledger, type Quiet } from '../../lib/ledger.js';
import { describeAge } from '../../lib/override-render.js';
import { assertMode } from './resume.js';

/**
 * `guardian hold <mode> <resource> [--for 2h] [--reason …]`: no automatic remediation of that
 * mode+resource (maintenance) until `guardian resume`, or until the time given runs out.
 */
export async function hold(
  mode: string,
  resource: string,
  options: { config: string; for?: string; reason?: string },
): Promise<number> {
  assertMode(mode);
  const forMs = options.for === undefined ? undefined : parseFor(options.for);
  const config = loadConfig(options.config);
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  try {
    const now = Date.now();
    const until = forMs === undefined ? null : now + forMs;
    const reason = options.reason ?? 'held by an operator';
    ledger.holds.place({ mode, resource, since: now, until, reason, source: 'operator', workflowId: null });
    process.stdout.write(
      `Held ${mode} on ${resource}${until === null ? '' : ` until ${new Date(until).toISOString()}`}: ` +
        `no automatic remediation${until === null ? '' : ' until then'}. Lift it with: guardian resume ${mode} ${resource}\n`,
    );
    return 0;
  } finally {
    ledger.close();
  }
}

function parseFor(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : (ms(text as ms.StringValue) as number | undefined);
  if (value === undefined || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`--for "${text}" is not a duration; write it like 30m, 2h or 1d`);
  }
  return value;
}

/**
 * Paused and held resources as `guardian status` prints them: what, why, for how long, and the
 * one command that ends it.
 */
export function renderQuiet(quiet: readonly Quiet[], now = Date.now()): string {
  return quiet
    .map((q) => {
      const lifts = q.until === null ? '' : `, lifts by itself in ${describeAge(now, q.until)}`;
      return (
        `${q.kind}: ${q.mode} ${q.resource} (${q.reason}), for ${describeAge(q.since, now)}${lifts}; ` +
        `end it with: guardian resume ${q.mode} ${q.resource}\n`
      );
    })
    .join('');
}
