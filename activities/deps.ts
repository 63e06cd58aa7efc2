import { ApplicationFailure } from '@temporalio/activity';
import type { GuardianConfig } from '../lib/config/load.js';
import type { EgressProxy } from '../lib/egress/proxy.js';
import type { GuardedService } from '../lib/guarded-service.js';
import type { Ledger } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import type { ModelServer } from '../lib/model-server.js';
import type { NetworkProber } from '../lib/network-probe.js';
import type { ProcessRegistry } from '../lib/process-registry.js';
import type { ServiceControl } from '../lib/service-control.js';
import { FailureType, noEgress, noService } from '../lib/failures.js';

/** What activities need from the process they run in. Built once by the worker. */
export interface ActivityDeps {
  readonly config: GuardianConfig;
  readonly ledger: Ledger;
  readonly logger: Logger;
  /** Control hooks of the guarded service; undefined when guardian.yaml declares no service. */
  readonly control?: ServiceControl;
  /** Guardian's egress proxy; undefined when guardian.yaml declares no egress endpoints. */
  readonly egress?: EgressProxy;
  /** The network probes of guardian.yaml; undefined when none are configured. */
  readonly prober?: NetworkProber;
  /** The supervised service (ports, restarts, boot chunks); undefined when guardian.yaml declares no service. */
  readonly service?: GuardedService;
  /** The supervised model server; undefined when guardian.yaml declares no modelServer. */
  readonly modelServer?: ModelServer;
  /** Guardian's process and port registry. */
  readonly registry?: ProcessRegistry;
}

/** What the activities of the supervised service are built from. */
export type SupervisionDeps = Pick<ActivityDeps, 'config' | 'service' | 'registry'>;

/** The supervised service and the registry, or a non-retryable failure naming the config that lacks them. */
export function requireSupervision({ config, service, registry }: SupervisionDeps): {
  service: GuardedService;
  registry: ProcessRegistry;
} {
  if (!service || !registry) throw noService(config.file);
  return { service, registry };
}

/** The egress proxy, or a non-retryable failure: guardian.yaml declares no endpoints. */
export function requireEgress(egress: EgressProxy | undefined): EgressProxy {
  if (!egress) throw noEgress();
  return egress;
}

/** An endpoint of the egress proxy by name, or a non-retryable failure naming what is wrong. */
export function knownEndpoint(egress: EgressProxy | undefined, endpoint: string): ReturnType<EgressProxy['endpoint']> {
  const proxy = requireEgress(egress);
  try {
    return proxy.endpoint(endpoint);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, FailureType.UnknownEndpoint);
  }
}
