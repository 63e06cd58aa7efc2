import { createDatabaseCorruptionDetector } from '../detectors/database-corruption.js';
import { createDiskFullDetector } from '../detectors/disk-full.js';
import { createMissingConfigDetector } from '../detectors/missing-config.js';
import { createOutOfMemoryDetector } from '../detectors/out-of-memory.js';
import type { LogTail } from '../detectors/log-tail.js';
import type { Detector } from '../detectors/types.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { GuardedService } from '../lib/guarded-service.js';
import type { EgressProxy } from '../lib/egress/proxy.js';
import { saveVersion } from '../lib/config-files.js';
import type { Ledger } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import type { ModelServer } from '../lib/model-server.js';
import type { NetworkProber } from '../lib/network-probe.js';
import type { ServiceControl } from '../lib/service-control.js';
import type { Supervisor } from '../lib/supervisor.js';
import { lifecycleDetectorFactories } from './lifecycle-detectors.js';
import { outsideDetectorFactories } from './outside-detectors.js';

/** What detector factories may use. Detectors themselves stay free of Temporal. */
export interface DetectorContext {
  readonly config: GuardianConfig;
  readonly logger: Logger;
  readonly ledger: Ledger;
  /** The guarded service's log, when guardian.yaml names one. */
  readonly log?: LogTail;
  readonly supervisor?: Supervisor;
  readonly control?: ServiceControl;
  /** The supervised service (bind probes, exits), when guardian.yaml declares one. */
  readonly service?: GuardedService;
  /** The supervised model server, when guardian.yaml declares one. */
  readonly modelServer?: ModelServer;
  /** Guardian's egress proxy, when guardian.yaml declares egress endpoints. */
  readonly egress?: EgressProxy;
  /** The network probes, when guardian.yaml declares some. */
  readonly prober?: NetworkProber;
}

/** One entry per failure mode: builds its detector from guardian.yaml, or nothing when nothing is guarded. */
export const detectorFactories: ((ctx: DetectorContext) => Detector | undefined)[] = [
  ({ config, log }) =>
    config.databases.length === 0
      ? undefined
      : createDatabaseCorruptionDetector({
          databases: config.databases,
          ...(log ? { log } : {}),
          intervalMs: config.detectors.sweep,
        }),
  ({ config, log, service, supervisor }) =>
    createOutOfMemoryDetector({
      memory: config.memory,
      resource: config.service?.name ?? 'system',
      pids: () =>
        [service?.supervisor.running?.pid ?? supervisor?.running?.pid].filter((p): p is number => p !== undefined),
      ...(log ? { log } : {}),
    }),
  ({ config, log }) =>
    config.disk
      ? createDiskFullDetector({ disk: config.disk, ...(log ? { log } : {}), intervalMs: config.detectors.interval })
      : undefined,
  ({ config, log, logger }) =>
    config.configs.length === 0
      ? undefined
      : createMissingConfigDetector({
          configs: config.configs,
          ...(log ? { log } : {}),
          intervalMs: config.detectors.interval,
          // Guardian keeps a copy of every valid version it sees: the first thing a restore reaches for.
          onValid: (watched, bytes) => {
            try {
              const saved = saveVersion(config.stateDir, watched, bytes);
              if (saved) logger.debug({ config: watched.name, saved }, 'kept a valid config version');
            } catch (err) {
              logger.warn({ err, config: watched.name }, 'could not keep a copy of the config');
            }
          },
        }),
  ...outsideDetectorFactories,
  ...lifecycleDetectorFactories,
];

/** Every detector guardian.yaml calls for. */
export function createDetectors(ctx: DetectorContext): Detector[] {
  return detectorFactories.map((factory) => factory(ctx)).filter((d): d is Detector => d !== undefined);
}
