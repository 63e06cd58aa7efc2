import { createModelServerDownDetector } from '../detectors/model-server-down.js';
import type { Detector } from '../detectors/types.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { ModelServerDownParams } from '../workflows/model-server-down.js';
import type { DetectorContext } from './detector-context.js';

/** Workflow parameters of model-server-down: whether a service uses it, its start timeout and start limit. */
export function modelServerDownParams(config: GuardianConfig): ModelServerDownParams {
  return {
    serviceConnected: config.service !== undefined,
    startTimeoutMs: config.modelServer?.startTimeout ?? 10_000,
    burst: config.modelServer?.restart.burst ?? 5,
  };
}

/**
 * The model-server-down detector on the supervised model server: its exits, its API, the
 * service's failed model calls; silent while its restarts are held after a crash loop.
 */
export function modelServerDownDetector({ config, modelServer, log }: DetectorContext): Detector | undefined {
  if (!modelServer) return undefined;
  return createModelServerDownDetector({
    name: modelServer.name,
    probe: () => modelServer.probe(),
    intervalMs: config.detectors.interval,
    recheckAfterMs: modelServer.settings.recheckAfter,
    process: modelServer.supervisor,
    held: () => modelServer.restarts.held(modelServer.name) !== undefined,
    ...(log ? { log } : {}),
  });
}
