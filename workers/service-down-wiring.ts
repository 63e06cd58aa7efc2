import type { LivenessProbe, ServiceDownSources } from '../detectors/service-down.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { GuardedService } from '../lib/guarded-service.js';
import type { ServiceDownParams } from '../workflows/service-down.js';

/** Workflow parameters of service-down: the start limit and how long a restart may take to be ready. */
export function serviceDownParams(config: GuardianConfig): ServiceDownParams {
  const service = config.service;
  return {
    burst: service?.restart.burst ?? 5,
    readyTimeoutMs: (service?.boot.budget ?? 30_000) + (service?.health.timeout ?? 2000) + 3000,
  };
}

/** What the service-down detector watches of the supervised service: exits, liveness, holds. */
export function serviceDownSources(service: GuardedService): ServiceDownSources {
  const { period, timeout, threshold } = service.settings.liveness;
  return {
    name: service.name,
    process: service.supervisor,
    running: () => service.supervisor.running,
    liveness: { periodMs: period, timeoutMs: timeout, threshold },
    probe: async (timeoutMs): Promise<LivenessProbe> => {
      try {
        const health = await service.control.health(timeoutMs);
        return { ok: true, ...(typeof health.pid === 'number' ? { pid: health.pid } : {}) };
      } catch (err) {
        return { ok: false, reason: (err as Error).message };
      }
    },
    answered: (pid) => service.answered(pid),
    held: () => service.restarts.held(service.name) !== undefined,
    downUnexpectedly: () => {
      if (!service.wanted || service.blockedPort) return undefined;
      const exit = service.supervisor.lastExit;
      // Exit 98 is port-in-use's; a held service is escalated already.
      if (exit?.code === 98 || service.restarts.held(service.name)) return undefined;
      return exit
        ? `it ended (${exit.signal ?? `code ${exit.code ?? 'unknown'}`}) and was not started again`
        : 'it was not started';
    },
  };
}
