import { join } from 'node:path';
import type { GuardianConfig } from '../lib/config/load.js';
import { UsageError } from '../lib/errors.js';
import { Ledger } from '../lib/ledger.js';
import { createLogger } from '../lib/logger.js';
import { acquirePidLock, runningGuardianPid } from '../lib/pid-lock.js';
import { ProcessRegistry } from '../lib/process-registry.js';
import { assertDrillPathsInside } from './path-guard.js';
import { runEachDrill } from './run-loop.js';
import { type DrillReport, summarize } from './runner.js';
import type { DrillEnvironment, DrillOptions, ModeDrill } from './types.js';

/**
 * Runs drills on the Guardian `guardian up` runs on `config.stateDir`, in another process: the
 * faults go into its demo (the databases and config files its guardian.yaml names), and the
 * incidents it opens — under its host, on its task queue, in its ledger — are what is measured.
 * They stay open for its rollback window, so each can be watched and rolled back as usual.
 * Only `attachable` drills run here; paths outside its state directory are refused.
 */
export async function attachDrills(
  config: GuardianConfig,
  selected: readonly ModeDrill[],
  options: DrillOptions,
): Promise<DrillReport> {
  const pid = runningGuardianPid(config.stateDir);
  if (pid === undefined)
    throw new UsageError(
      `no Guardian runs on the state directory ${config.stateDir} (no live guardian.pid there); start it with ` +
        '`npm start` (or `guardian up`) in another terminal, or run the drill with --isolated',
    );
  const own = selected.filter((d) => !d.attachable).map((d) => d.mode);
  if (own.length > 0)
    throw new UsageError(`${own.join(', ')} cannot run on a running Guardian; run them with --isolated`);
  for (const d of selected) {
    const reason = d.attachRefusal?.(config);
    if (reason) throw new UsageError(`${d.mode}: ${reason}`);
  }
  const flapLimit = config.incidents.flap.limit;
  if (options.repeat > flapLimit)
    throw new UsageError(
      `--repeat ${options.repeat} would trip the running Guardian's flap protection (incidents.flap.limit ${flapLimit} ` +
        `in ${config.file}) and pause the resource; repeat at most ${flapLimit} times, or run with --isolated`,
    );
  // Drills damage for real: only what lies in the running Guardian's own state directory.
  assertDrillPathsInside(config, 'running');
  // One drill at a time per state directory.
  const release = acquirePidLock(join(config.stateDir, 'drill.lock'));
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  const registry = new ProcessRegistry(join(config.stateDir, 'supervision.db'));
  try {
    const logger = options.logger ?? createLogger('guardian-drill');
    const service = config.service;
    const env: DrillEnvironment = {
      runtime: { config, ledger, registry, logger },
      // Where the running Guardian put its service, which may not be the preferred port.
      servicePort: () => (service ? (registry.port(service.name)?.port ?? service.port.preferred) : undefined),
    };
    options.onProgress?.(
      `drilling the running Guardian (pid ${pid}, host ${config.host}, task queue ${config.taskQueue}, state ${config.stateDir})`,
    );
    return summarize(selected, await runEachDrill(env, selected, options));
  } finally {
    registry.close();
    ledger.close();
    release();
  }
}
