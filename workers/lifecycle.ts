import { join } from 'node:path';
import type { GuardianConfig } from '../lib/config/load.js';
import { GuardedService } from '../lib/guarded-service.js';
import type { Logger } from '../lib/logger.js';
import { ModelServer } from '../lib/model-server.js';
import { ProcessRegistry } from '../lib/process-registry.js';

/** The supervised processes of a running Guardian: the guarded service, the model server, their registry. */
export interface Lifecycle {
  /** For activities and detectors. */
  readonly deps: { registry: ProcessRegistry; service?: GuardedService; modelServer?: ModelServer };
  /** Starts (or re-adopts) the model server first, so the service boots with it, then the service. */
  up(): Promise<void>;
  /** Stops the service, then the model server. */
  stop(): Promise<void>;
}

/**
 * Builds the supervision of guardian.yaml's `service` and `modelServer` on a registry file beside
 * the ledger (`supervision.db`). Nothing is started until {@link Lifecycle.up}.
 */
export function createLifecycle(config: GuardianConfig, logger: Logger): Lifecycle {
  const registry = new ProcessRegistry(join(config.stateDir, 'supervision.db'));
  const service = config.service
    ? new GuardedService({ ...config, service: config.service }, registry, logger)
    : undefined;
  const modelServer = config.modelServer
    ? new ModelServer(config.modelServer, config.stateDir, registry, logger)
    : undefined;
  return {
    deps: { registry, ...(service ? { service } : {}), ...(modelServer ? { modelServer } : {}) },
    async up() {
      if (modelServer?.settings.supervise) {
        const how = await modelServer.up();
        logger.info({ modelServer: modelServer.name, how, url: modelServer.url }, 'model server up');
      }
      if (service) {
        const how = await service.up();
        logger.info({ service: service.name, how, port: service.port ?? service.lastAttemptedPort }, 'service up');
      }
    },
    async stop() {
      await service?.stop();
      await modelServer?.stop();
      registry.close();
    },
  };
}
