import { join } from 'node:path';
import { loadConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { Ledger } from '../../lib/ledger.js';
import { MODES, type Mode } from '../../lib/modes.js';
import { RESTART_MODES, withRestartBudget } from '../../lib/restart-report.js';

/** Throws a usage error naming the modes when `mode` is not one. */
export function assertMode(mode: string): asserts mode is Mode {
  if (!MODES.includes(mode as Mode)) throw new UsageError(`unknown mode "${mode}"; modes are: ${MODES.join(', ')}`);
}

/** `guardian resume <mode> <resource>`: lifts a flap-protection pause, an operator's or rollback's hold, and a crash loop's hold on restarts. */
export async function resume(mode: string, resource: string, options: { config: string }): Promise<number> {
  assertMode(mode);
  const config = loadConfig(options.config);
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  try {
    const lifted: string[] = ledger.resume(mode, resource);
    // A crash loop's hold on restarts (service-down, model-server-down) is lifted with it, and its restarts forgotten.
    const budgeted = (RESTART_MODES as readonly string[]).includes(mode);
    if (budgeted && withRestartBudget(config.stateDir, (budget) => budget.resume(resource)))
      lifted.push('escalated as a crash loop');
    process.stdout.write(
      lifted.length > 0
        ? `Resumed auto-remediation of ${mode} on ${resource} (it was ${lifted.join(' and ')}).\n`
        : `${mode} on ${resource} was neither paused nor held.\n`,
    );
    return 0;
  } finally {
    ledger.close();
  }
}
