import { join } from 'node:path';
import type { Finding } from '../detectors/types.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { mountOf } from '../lib/disk.js';
import type { Ledger } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import { RetentionKeeper } from '../lib/retention-keeper.js';
import { createDatabaseScrub, type DatabaseScrub } from '../lib/scrub.js';

/** Retention of Guardian's own state and the background scrub of the guarded databases. */
export interface StateKeeping {
  readonly retention: RetentionKeeper;
  /** Runs when detectors run, there are databases and its CPU budget is above 0. */
  readonly scrub?: DatabaseScrub;
  /**
   * Wraps how findings are reported: a disk-full finding on the state directory's filesystem
   * first runs retention in urgent mode, so Guardian's own files are the first to go.
   */
  reportThrough(report: (finding: Finding) => void): (finding: Finding) => void;
  stop(): void;
}

/** Starts retention (a pass now, then on its schedule) and builds the scrub (started with the detectors). */
export function startStateKeeping(
  config: GuardianConfig,
  ledger: Ledger,
  logger: Logger,
  options: { detect: boolean },
): StateKeeping {
  const retention = new RetentionKeeper({
    stateDir: config.stateDir,
    alertsFile: config.alerts.file ?? join(config.stateDir, 'alerts.log'),
    settings: config.retention,
    rollbackWindowMs: config.incidents.rollbackWindow,
    flapWindowMs: config.incidents.flap.window,
    ledger: ledger.db,
    logger,
  });
  retention.start();
  const stateMount = mountOf(config.stateDir);
  const scrub =
    options.detect && config.databases.length > 0 && config.scrub.cpuPercent > 0
      ? createDatabaseScrub({
          databases: config.databases,
          stateDir: config.stateDir,
          cpuPercent: config.scrub.cpuPercent,
        })
      : undefined;
  return {
    retention,
    ...(scrub ? { scrub } : {}),
    reportThrough: (report) => (finding) => {
      if (finding.mode !== 'disk-full' || finding.resource !== stateMount) return report(finding);
      void retention
        .run(true)
        .catch(() => undefined)
        .then(() => report(finding));
    },
    stop: () => retention.stop(),
  };
}
