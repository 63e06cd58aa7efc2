import type { LogTail } from '../detectors/log-tail.js';
import { createModelServerDownDetector } from '../detectors/model-server-down.js';
import { createPortInUseDetector } from '../detectors/port-in-use.js';
import { createSlowBootDetector } from '../detectors/slow-boot.js';
import type { Detector } from '../detectors/types.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { GuardedService } from '../lib/guarded-service.js';
import type { ModelServer } from '../lib/model-server.js';

/** What the service-lifecycle detectors need from the runtime. */
export interface LifecycleDetectorContext {
  readonly config: GuardianConfig;
  readonly log?: LogTail;
  readonly service?: GuardedService;
  readonly modelServer?: ModelServer;
}

/** Detector factories of port-in-use, slow-boot and model-server-down. */
export const lifecycleDetectorFactories: ((ctx: LifecycleDetectorContext) => Detector | undefined)[] = [
  ({ service, log }) =>
    service
      ? createPortInUseDetector(service.name, { starts: service, process: service.supervisor, ...(log ? { log } : {}) })
      : undefined,
  ({ config, log, service }) =>
    config.service && log
      ? createSlowBootDetector({
          log,
          budgets: {
            bootMs: config.service.boot.budget,
            chunkMs: config.service.boot.chunkBudget,
            chunks: config.service.boot.chunks,
          },
          ...(service ? { current: () => service.bootReport(1000) } : {}),
        })
      : undefined,
  ({ config, modelServer, log }) =>
    modelServer
      ? createModelServerDownDetector({
          name: modelServer.name,
          probe: () => modelServer.probe(),
          intervalMs: config.detectors.interval,
          recheckAfterMs: modelServer.settings.recheckAfter,
          process: modelServer.supervisor,
          ...(log ? { log } : {}),
        })
      : undefined,
];
