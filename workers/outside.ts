import { join } from 'node:path';
import type { GuardianConfig } from '../lib/config/load.js';
import { CredentialStore } from '../lib/egress/credentials.js';
import { EgressProxy } from '../lib/egress/proxy.js';
import { EgressStore } from '../lib/egress/store.js';
import type { Logger } from '../lib/logger.js';
import { createNetworkProber, type NetworkProber } from '../lib/network-probe.js';

/** The egress proxy and network probes of a running Guardian, when guardian.yaml declares them. */
export interface Outside {
  /** For activities and detectors. */
  readonly deps: { egress?: EgressProxy; prober?: NetworkProber };
  /** For the guarded service: GUARDIAN_EGRESS_URL, GUARDIAN_EGRESS_TOKEN (and OFFLINE_MODE when Guardian starts offline). */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts the egress proxy (when egress endpoints are declared) before the service, so the
 * service is started with its URL, and builds the network prober (when probes are declared).
 * Offline mode and circuit states come back from the proxy's store after a restart.
 */
export async function startOutside(config: GuardianConfig, logger: Logger): Promise<Outside> {
  const probes = config.network.probes;
  const prober =
    probes.dns.names.length + probes.tcp.length + probes.icmp.length > 0 ? createNetworkProber(probes) : undefined;
  if (config.egress.endpoints.length === 0) {
    return { deps: prober ? { prober } : {}, env: {}, stop: async () => undefined };
  }
  const store = new EgressStore(join(config.stateDir, 'egress.db'));
  const egress = new EgressProxy(
    config.egress,
    new CredentialStore(config.credentials, config.stateDir, store),
    store,
    logger,
  );
  try {
    await egress.start();
  } catch (err) {
    store.close();
    throw err;
  }
  return {
    deps: { egress, ...(prober ? { prober } : {}) },
    env: {
      GUARDIAN_EGRESS_URL: egress.url,
      GUARDIAN_EGRESS_TOKEN: egress.serviceToken,
      ...(egress.offline ? { OFFLINE_MODE: 'true' } : {}),
    },
    async stop() {
      await egress.stop();
      store.close();
    },
  };
}
