import { createApiTimeoutDetector } from '../detectors/api-timeout.js';
import { createInvalidCredentialsDetector } from '../detectors/invalid-credentials.js';
import type { LogTail } from '../detectors/log-tail.js';
import { createNetworkUnreachableDetector } from '../detectors/network-unreachable.js';
import type { Detector } from '../detectors/types.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { CallEvent, EgressProxy } from '../lib/egress/proxy.js';
import { NOT_SENT_CODES } from '../lib/egress/upstream.js';
import type { NetworkProber } from '../lib/network-probe.js';

/** What the outbound-traffic detectors need from the runtime. */
export interface OutsideDetectorContext {
  readonly config: GuardianConfig;
  readonly log?: LogTail;
  readonly egress?: EgressProxy;
  readonly prober?: NetworkProber;
}

const subscribe = (egress: EgressProxy) => (listener: (event: CallEvent) => void) => {
  egress.on('call', listener);
  return () => void egress.off('call', listener);
};

/** Detectors of network-unreachable, api-timeout and invalid-credentials, when guardian.yaml calls for them. */
export const outsideDetectorFactories: ((ctx: OutsideDetectorContext) => Detector | undefined)[] = [
  ({ config, egress, prober }) =>
    !prober || prober.size === 0
      ? undefined
      : createNetworkUnreachableDetector({
          probe: () => prober.round(),
          intervalMs: config.network.probes.interval,
          failedRounds: config.network.probes.failedRounds,
          ...(egress
            ? {
                paused: () => egress.offline,
                hints: (listener) =>
                  subscribe(egress)((event) => {
                    if (
                      event.outcome === 'failure' &&
                      (event.code === undefined ? event.detail.startsWith('timeout') : NOT_SENT_CODES.has(event.code))
                    )
                      listener();
                  }),
              }
            : {}),
        }),
  ({ egress }) =>
    !egress || egress.endpoints.length === 0 ? undefined : createApiTimeoutDetector({ calls: subscribe(egress) }),
  ({ config, egress, log }) =>
    !egress || egress.endpoints.length === 0
      ? undefined
      : createInvalidCredentialsDetector({
          endpoints: egress.endpoints.map((e) => ({
            endpoint: e.name,
            ...(e.credential ? { credential: e.credential } : {}),
          })),
          calls: subscribe(egress),
          ...(log ? { log } : {}),
          expiresAt: (credential) => {
            const exp = egress.credentials.expiresAt(credential);
            return exp === undefined ? undefined : exp - (egress.credentials.settings(credential)?.expirySkew ?? 0);
          },
          intervalMs: config.detectors.interval,
        }),
];
