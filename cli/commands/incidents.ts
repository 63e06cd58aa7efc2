import { join } from 'node:path';
import { createTable } from '../../lib/table.js';
import { loadConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { Ledger } from '../../lib/ledger.js';
import { MODES, type Mode } from '../../lib/modes.js';

/** `guardian incidents`: the ledger, newest first. */
export async function incidents(options: {
  config: string;
  json?: boolean;
  mode?: string;
  limit: string;
}): Promise<number> {
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a positive whole number, got "${options.limit}"`);
  if (options.mode !== undefined && !MODES.includes(options.mode as Mode)) {
    throw new UsageError(`unknown mode "${options.mode}"; modes are: ${MODES.join(', ')}`);
  }
  const config = loadConfig(options.config);
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  try {
    const rows = ledger.incidents({ limit, ...(options.mode ? { mode: options.mode } : {}) });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write('No incidents recorded yet.\n');
      return 0;
    }
    const table = createTable(['detected', 'mode', 'resource', 'outcome', 'MTTR', 'workflow id']);
    for (const r of rows) {
      table.push([
        new Date(r.detectedAt).toISOString().replace('T', ' ').slice(0, 19),
        r.mode,
        r.resource,
        r.outcome,
        r.mttrMs === null ? '' : `${r.mttrMs} ms`,
        r.workflowId,
      ]);
    }
    process.stdout.write(`${table.toString()}\n`);
    return 0;
  } finally {
    ledger.close();
  }
}
