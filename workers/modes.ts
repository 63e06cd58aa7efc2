import { createApiTimeoutDetector } from '../detectors/api-timeout.js';
import { createDatabaseCorruptionDetector } from '../detectors/database-corruption.js';
import { createDiskFullDetector } from '../detectors/disk-full.js';
import { createInvalidCredentialsDetector } from '../detectors/invalid-credentials.js';
import { createMissingConfigDetector } from '../detectors/missing-config.js';
import { createNetworkUnreachableDetector } from '../detectors/network-unreachable.js';
import { createOutOfMemoryDetector } from '../detectors/out-of-memory.js';
import { createPortInUseDetector } from '../detectors/port-in-use.js';
import { createServiceDownDetector } from '../detectors/service-down.js';
import { createSlowBootDetector } from '../detectors/slow-boot.js';
import type { Detector } from '../detectors/types.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { MODES, type Mode } from '../lib/modes.js';
import {
  apiTimeout,
  databaseCorruption,
  diskFull,
  invalidCredentials,
  missingConfig,
  modelServerDown,
  networkUnreachable,
  outOfMemory,
  portInUse,
  serviceDown,
  slowBoot,
} from '../workflows/index.js';
import type { IncidentInput, IncidentResult, IncidentSettings } from '../workflows/definitions.js';
import {
  credentialSources,
  type DetectorContext,
  egressCalls,
  keepValidConfig,
  networkHints,
  portInUseSources,
  servicePids,
} from './detector-context.js';
import { modelServerDownDetector, modelServerDownParams } from './model-server-down-wiring.js';
import { serviceDownParams, serviceDownSources } from './service-down-wiring.js';

/**
 * Everything Guardian needs to run one failure mode: its incident workflow (started by
 * reference), the plain-data parameters it gets from guardian.yaml (names and durations, never
 * secrets) and its detector (or nothing, when guardian.yaml guards nothing of that kind).
 * Method syntax on purpose: each entry keeps its own parameter type and still fits the registry.
 */
export interface ModeWiring<P = unknown> {
  workflow(input: IncidentInput<P>): Promise<IncidentResult>;
  params(resource: string, config: GuardianConfig): NoInfer<P>;
  detector(ctx: DetectorContext): Detector | undefined;
}

/** Checks that a mode's parameter builder returns what its workflow takes. */
function wire<P>(wiring: ModeWiring<P>): ModeWiring<P> {
  return wiring;
}

/** How long an open circuit or a disabled endpoint is watched before its incident fails with an alert. */
const WATCH_LIMIT_MS = 7 * 24 * 3600_000;

const endpointOf = (config: GuardianConfig, name: string) => config.egress.endpoints.find((e) => e.name === name);

/** The registry of failure modes: adding a mode is its files plus one entry here, which the compiler insists on. */
export const modes = {
  'database-corruption': wire({
    workflow: databaseCorruption,
    params: (resource, config) => ({ database: resource, serviceConnected: config.service !== undefined }),
    detector: ({ config, log }) =>
      config.databases.length === 0
        ? undefined
        : createDatabaseCorruptionDetector({
            databases: config.databases,
            ...(log ? { log } : {}),
            intervalMs: config.detectors.sweep,
          }),
  }),
  'port-in-use': wire({
    workflow: portInUse,
    params: (resource, config) => ({
      service: resource,
      healthTimeoutMs: Math.max(10_000, config.service?.stopTimeout ?? 0),
    }),
    detector: ({ service, log }) =>
      service
        ? createPortInUseDetector(service.name, { ...portInUseSources(service), ...(log ? { log } : {}) })
        : undefined,
  }),
  'slow-boot': wire({
    workflow: slowBoot,
    params: (_resource, config) => ({
      service: config.service?.name ?? 'service',
      onSlow: config.service?.boot.onSlow ?? 'defer',
    }),
    detector: ({ config, log, service }) =>
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
  }),
  'out-of-memory': wire({
    workflow: outOfMemory,
    params: (_resource, config) => ({
      service: config.service !== undefined,
      concurrency: config.memory.lowMemory.concurrency,
      disableFeatures: config.memory.lowMemory.disableFeatures,
      settleMs: config.memory.settle,
    }),
    detector: (ctx) =>
      createOutOfMemoryDetector({
        memory: ctx.config.memory,
        resource: ctx.config.service?.name ?? 'system',
        pids: servicePids(ctx),
        ...(ctx.log ? { log: ctx.log } : {}),
      }),
  }),
  'disk-full': wire({
    workflow: diskFull,
    params: () => ({}),
    detector: ({ config, log }) =>
      config.disk
        ? createDiskFullDetector({
            // Guardian's own state counts: its filesystem is watched too (retention cleans it first).
            disk: { ...config.disk, watch: [...config.disk.watch, config.stateDir] },
            ...(log ? { log } : {}),
            intervalMs: config.detectors.interval,
          })
        : undefined,
  }),
  'network-unreachable': wire({
    workflow: networkUnreachable,
    params: (_resource, config) => ({
      backoffMs: config.network.backoff,
      maxOfflineMs: config.network.maxOffline,
      serviceControlled: config.service !== undefined,
    }),
    detector: ({ config, egress, prober }) =>
      !prober || prober.size === 0
        ? undefined
        : createNetworkUnreachableDetector({
            probe: () => prober.round(),
            intervalMs: config.network.probes.interval,
            failedRounds: config.network.probes.failedRounds,
            ...(egress ? { paused: () => egress.offline, hints: networkHints(egress) } : {}),
          }),
  }),
  'api-timeout': wire({
    workflow: apiTimeout,
    params: (resource, config) => {
      const endpoint = endpointOf(config, resource);
      return {
        endpoint: resource,
        timeoutsMs: endpoint?.timeouts ?? [30_000, 10_000, 5000],
        retryIntervalMs: endpoint?.retryInterval ?? 60_000,
        maxOpenMs: WATCH_LIMIT_MS,
        hasBackup: endpoint?.backup !== undefined,
      };
    },
    detector: ({ egress }) =>
      !egress || egress.endpoints.length === 0 ? undefined : createApiTimeoutDetector({ calls: egressCalls(egress) }),
  }),
  'missing-config': wire({
    workflow: missingConfig,
    params: (resource, config) => ({
      config: resource,
      reload: config.service !== undefined && (config.configs.find((c) => c.name === resource)?.reload ?? false),
    }),
    detector: ({ config, log, logger }) =>
      config.configs.length === 0
        ? undefined
        : createMissingConfigDetector({
            configs: config.configs,
            ...(log ? { log } : {}),
            intervalMs: config.detectors.interval,
            onValid: keepValidConfig(config, logger),
          }),
  }),
  'invalid-credentials': wire({
    workflow: invalidCredentials,
    params: (resource, config) => {
      const credential = config.credentials.find((c) => c.name === endpointOf(config, resource)?.credential);
      return {
        endpoint: resource,
        credential: credential?.name ?? null,
        oauth: credential?.oauth !== undefined,
        backup: credential?.backup !== undefined,
        recheckIntervalMs: credential?.refreshBackoff ?? 300_000,
        maxWaitMs: WATCH_LIMIT_MS,
      };
    },
    detector: ({ config, egress, log }) =>
      !egress || egress.endpoints.length === 0
        ? undefined
        : createInvalidCredentialsDetector({
            endpoints: egress.endpoints.map((e) => ({
              endpoint: e.name,
              ...(e.credential ? { credential: e.credential } : {}),
            })),
            ...credentialSources(egress),
            ...(log ? { log } : {}),
            intervalMs: config.detectors.interval,
          }),
  }),
  'model-server-down': wire({
    workflow: modelServerDown,
    params: (_resource, config) => modelServerDownParams(config),
    detector: modelServerDownDetector,
  }),
  'service-down': wire({
    workflow: serviceDown,
    params: (_resource, config) => serviceDownParams(config),
    detector: ({ service }) => (service ? createServiceDownDetector(serviceDownSources(service)) : undefined),
  }),
} satisfies Record<Mode, ModeWiring>;

/** Every detector guardian.yaml calls for, one per guarded mode. */
export function createDetectors(ctx: DetectorContext): Detector[] {
  return MODES.map((mode) => modes[mode].detector(ctx)).filter((d): d is Detector => d !== undefined);
}

/** Incident durations from guardian.yaml. */
export function incidentSettings(config: GuardianConfig): IncidentSettings {
  return {
    rollbackWindowMs: config.incidents.rollbackWindow,
    flapLimit: config.incidents.flap.limit,
    flapWindowMs: config.incidents.flap.window,
  };
}
