import type { InvalidCredentialsDetectorOptions } from '../detectors/invalid-credentials.js';
import type { LogTail } from '../detectors/log-tail.js';
import type { PortInUseSources } from '../detectors/port-in-use.js';
import type { WatchedConfig } from '../lib/config/resources.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { saveVersion } from '../lib/config-files.js';
import type { CallEvent, EgressProxy } from '../lib/egress/proxy.js';
import { NOT_SENT_CODES } from '../lib/egress/upstream.js';
import type { GuardedService } from '../lib/guarded-service.js';
import type { Ledger } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import type { ModelServer } from '../lib/model-server.js';
import type { NetworkProber } from '../lib/network-probe.js';
import { isPortFree } from '../lib/ports.js';
import { portHolders, shortDescription } from '../lib/proc.js';
import type { ServiceControl } from '../lib/service-control.js';
import type { Supervisor } from '../lib/supervisor.js';

/**
 * What a mode's detector factory may use: guardian.yaml and the running parts of Guardian that
 * are shared by several detectors. Detectors themselves stay free of Temporal.
 */
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

/** Subscribes a listener to the egress proxy's calls; the returned function unsubscribes. */
export function egressCalls(egress: EgressProxy): (listener: (event: CallEvent) => void) => () => void {
  return (listener) => {
    egress.on('call', listener);
    return () => void egress.off('call', listener);
  };
}

/** Hints that the network may be gone: outbound calls through the proxy failing below HTTP. */
export function networkHints(egress: EgressProxy): (listener: () => void) => () => void {
  return (listener) =>
    egressCalls(egress)((event) => {
      if (
        event.outcome === 'failure' &&
        (event.code === undefined ? event.detail.startsWith('timeout') : NOT_SENT_CODES.has(event.code))
      )
        listener();
    });
}

/** When a credential in use expires, less its configured skew (undefined when unknown). */
export function credentialExpiry(egress: EgressProxy): (credential: string) => number | undefined {
  return (credential) => {
    const exp = egress.credentials.expiresAt(credential);
    return exp === undefined ? undefined : exp - (egress.credentials.settings(credential)?.expirySkew ?? 0);
  };
}

/** How long Guardian's own check of a claimed credential refusal waits for the endpoint. */
const CREDENTIAL_CONFIRM_TIMEOUT_MS = 5000;

/**
 * What the invalid-credentials detector reads from the egress proxy: its calls, the credentials'
 * expiry, and the confirmation of a service log line's claim — one credentialed call to the
 * endpoint's probe path, which confirms only when the endpoint itself answers 401 or 403.
 */
export function credentialSources(
  egress: EgressProxy,
): Required<Pick<InvalidCredentialsDetectorOptions, 'calls' | 'expiresAt' | 'confirm'>> {
  return {
    calls: egressCalls(egress),
    expiresAt: credentialExpiry(egress),
    confirm: async (endpoint) => {
      const trial = await egress.trial(endpoint, CREDENTIAL_CONFIRM_TIMEOUT_MS);
      return trial.status === 401 || trial.status === 403 ? trial.detail : undefined;
    },
  };
}

/**
 * Keeps a copy of every valid config version the missing-config detector sees under the state
 * directory: the first thing a restore reaches for. A failed copy is logged, never thrown.
 */
export function keepValidConfig(
  config: GuardianConfig,
  logger: Logger,
): (watched: WatchedConfig, bytes: Buffer) => void {
  return (watched, bytes) => {
    try {
      const saved = saveVersion(config.stateDir, watched, bytes);
      if (saved) logger.debug({ config: watched.name, saved }, 'kept a valid config version');
    } catch (err) {
      logger.warn({ err, config: watched.name }, 'could not keep a copy of the config');
    }
  };
}

/** The PIDs whose memory out-of-memory watches: the supervised service's, when one runs. */
export function servicePids({ service, supervisor }: DetectorContext): () => number[] {
  return () =>
    [service?.supervisor.running?.pid ?? supervisor?.running?.pid].filter((p): p is number => p !== undefined);
}

/** What the port-in-use confirmation reads of the supervised service. */
export interface PortOwner {
  /** The port the service listens on now (or last did). */
  readonly port: number | undefined;
  /** The port its last start tried to bind. */
  readonly lastAttemptedPort: number;
  readonly supervisor: { readonly running?: { readonly pid: number; readonly startTicks: number } | undefined };
  /** The address its bind probe uses: `env.HOST`, else 127.0.0.1. */
  readonly settings: { readonly env: Readonly<Record<string, string>> };
}

/**
 * Confirms a `bind.error` line's claim: the port it names (the service's current or last
 * attempted port, when it names none) must be one of the service's, and a listener other than the
 * supervised service must hold it — seen in /proc (`portHolders`), or, when /proc shows no holder
 * (another user's process), by a bind probe that fails. Returns who holds it (command name only),
 * else undefined: a port that is free, the service's own, or not the service's at all.
 */
export function portHeldElsewhere(service: PortOwner): (claimed: number | undefined) => Promise<string | undefined> {
  return async (claimed) => {
    const own = [service.port, service.lastAttemptedPort].filter((p): p is number => p !== undefined);
    const port = claimed ?? own[0];
    if (port === undefined || !own.includes(port)) return undefined;
    const running = service.supervisor.running;
    const holders = portHolders(port);
    // Workers forked by the service share its socket: while the service holds the port, it is its own.
    if (holders.some((h) => running !== undefined && h.pid === running.pid && h.startTicks === running.startTicks))
      return undefined;
    const [holder] = holders;
    if (holder) return `port ${port} is held by ${shortDescription(holder.pid)}`;
    const free = await isPortFree(port, service.settings.env.HOST ?? '127.0.0.1');
    return free ? undefined : `port ${port} is taken by a listener /proc does not show (bind probe)`;
  };
}

/** What the port-in-use detector watches of the supervised service, its log claims' confirmation included. */
export function portInUseSources(service: GuardedService): Omit<PortInUseSources, 'log' | 'persisting'> {
  return {
    starts: service,
    process: service.supervisor,
    stillDown: () => service.downForItsPort,
    confirm: portHeldElsewhere(service),
  };
}
