import type { GuardianConfig } from '../lib/config/load.js';
import type { IncidentSettings, Mode } from '../workflows/definitions.js';
import { lifecycleModeParams } from './lifecycle.js';
import { outsideModeParams } from './outside-params.js';

/** Builds a mode's plain-data workflow parameters from guardian.yaml (names, never secrets). */
export type ParamsBuilder = (resource: string, config: GuardianConfig) => Record<string, unknown>;

/** Per-mode parameter builders; a mode without one gets `{}`. */
export const modeParams: Partial<Record<Mode, ParamsBuilder>> = {
  'database-corruption': (resource, config) => ({ database: resource, serviceConnected: config.service !== undefined }),
  ...lifecycleModeParams,
  'out-of-memory': (_resource, config) => ({
    service: config.service !== undefined,
    concurrency: config.memory.lowMemory.concurrency,
    disableFeatures: config.memory.lowMemory.disableFeatures,
    settleMs: config.memory.settle,
  }),
  'missing-config': (resource, config) => ({
    config: resource,
    reload: config.service !== undefined && (config.configs.find((c) => c.name === resource)?.reload ?? false),
  }),
  ...outsideModeParams,
};

/** The workflow function name of a mode: `database-corruption` → `databaseCorruption`. */
export function workflowTypeFor(mode: Mode): string {
  return mode.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Incident durations from guardian.yaml. */
export function incidentSettings(config: GuardianConfig): IncidentSettings {
  return {
    rollbackWindowMs: config.incidents.rollbackWindow,
    flapLimit: config.incidents.flap.limit,
    flapWindowMs: config.incidents.flap.window,
  };
}
