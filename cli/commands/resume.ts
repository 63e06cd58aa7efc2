import { join } from 'node:path';
import { loadConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { Ledger } from '../../lib/ledger.js';
import { MODES, type Mode } from '../../lib/modes.js';

/** `guardian resume <mode> <resource>`: lifts a flap-protection pause. */
export async function resume(mode: string, resource: string, options: { config: string }): Promise<number> {
  if (!MODES.includes(mode as Mode)) throw new UsageError(`unknown mode "${mode}"; modes are: ${MODES.join(', ')}`);
  const config = loadConfig(options.config);
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  try {
    const lifted = ledger.resume(mode, resource);
    process.stdout.write(
      lifted ? `Resumed auto-remediation of ${mode} on ${resource}.\n` : `${mode} on ${resource} was not paused.\n`,
    );
    return 0;
  } finally {
    ledger.close();
  }
}
