import type { GuardianConfig } from '../lib/config/load.js';
import type { ApiTimeoutParams } from '../workflows/api-timeout.js';
import type { Mode } from '../workflows/definitions.js';
import type { InvalidCredentialsParams } from '../workflows/invalid-credentials.js';
import type { NetworkUnreachableParams } from '../workflows/network-unreachable.js';

/** How long an open circuit or a disabled endpoint is watched before its incident fails with an alert. */
const WATCH_LIMIT_MS = 7 * 24 * 3600_000;

/**
 * Workflow parameters of the modes that guard outbound traffic (network-unreachable,
 * api-timeout, invalid-credentials): endpoint and credential names and durations, never values.
 */
export const outsideModeParams: Partial<
  Record<Mode, (resource: string, config: GuardianConfig) => Record<string, unknown>>
> = {
  'network-unreachable': (_resource, config) =>
    ({
      backoffMs: config.network.backoff,
      maxOfflineMs: config.network.maxOffline,
      serviceControlled: config.service !== undefined,
    }) satisfies NetworkUnreachableParams,
  'api-timeout': (resource, config) => {
    const endpoint = config.egress.endpoints.find((e) => e.name === resource);
    return {
      endpoint: resource,
      timeoutsMs: endpoint?.timeouts ?? [30_000, 10_000, 5000],
      retryIntervalMs: endpoint?.retryInterval ?? 60_000,
      maxOpenMs: WATCH_LIMIT_MS,
      hasBackup: endpoint?.backup !== undefined,
    } satisfies ApiTimeoutParams;
  },
  'invalid-credentials': (resource, config) => {
    const endpoint = config.egress.endpoints.find((e) => e.name === resource);
    const credential = config.credentials.find((c) => c.name === endpoint?.credential);
    return {
      endpoint: resource,
      credential: credential?.name ?? null,
      oauth: credential?.oauth !== undefined,
      backup: credential?.backup !== undefined,
      recheckIntervalMs: credential?.refreshBackoff ?? 300_000,
      maxWaitMs: WATCH_LIMIT_MS,
    } satisfies InvalidCredentialsParams;
  },
};
