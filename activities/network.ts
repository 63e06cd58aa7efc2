import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EgressProxy } from '../lib/egress/proxy.js';
import type { DrainSummary } from '../lib/egress/outbox.js';
import type { NetworkProber } from '../lib/network-probe.js';
import { type ActivityDeps, requireEgress } from './deps.js';
import { type HookBefore, readHookBefore } from '../lib/hook-before.js';
import { oncePerStep } from '../lib/step-state.js';
import { FailureType } from '../lib/failures.js';
import { currentStep } from '../lib/step-state.js';

/** A probe round as workflows see it: plain data, no secrets. */
export interface NetworkProbeResult {
  up: boolean;
  at: number;
  /** `dns:example.com ok 3 ms; tcp:1.1.1.1:443 ECONNREFUSED` */
  detail: string;
}

/**
 * Network activities for network-unreachable: offline mode in the egress proxy and the service,
 * probe rounds, and the outbox of calls made while offline.
 */
export function createNetworkActivities({
  config,
  egress,
  prober,
  control,
  service,
}: Pick<ActivityDeps, 'config' | 'egress' | 'prober' | 'control' | 'service'>) {
  const proxy = (): EgressProxy => requireEgress(egress);
  const probes = (): NetworkProber => {
    if (!prober || prober.size === 0)
      throw ApplicationFailure.nonRetryable(
        'guardian.yaml declares no network probes (network.probes)',
        FailureType.NoProbes,
      );
    return prober;
  };
  const setServiceOffline = async (enabled: boolean): Promise<boolean | null> => {
    // A start of the service from now on (a restart on another port, say) begins in the same mode.
    service?.setEnv({ OFFLINE_MODE: enabled ? 'true' : undefined });
    if (!control) return null;
    const reply = await control.call<{ previous?: boolean }>('offline-mode', { enabled });
    return typeof reply.previous === 'boolean' ? reply.previous : null;
  };

  return {
    /**
     * Egress proxy offline: GETs answered from the cache, other calls queued, nothing leaves. A re-run
     * sets the flag again rather than returning a first result: it is the same write, no undo reads
     * `previous`, and the proxy is offline after it whatever happened to egress.db meanwhile.
     */
    async enterOfflineMode(): Promise<{ previous: boolean }> {
      return { previous: proxy().setOffline(true) };
    },

    /** Egress proxy back online (queued calls are sent by `drainOutbox`); a re-run sets it again, as above. */
    async exitOfflineMode(): Promise<{ previous: boolean }> {
      return { previous: proxy().setOffline(false) };
    },

    /**
     * The service's own offline mode (control hook `offline-mode`); `previous` null when no service
     * is guarded. Once per step: the mode before is read from the health route and journaled ahead
     * of the call, so a re-run after a crash between the hook's answer and the step's record reports
     * that value, not the one its own first call set.
     */
    async setServiceOfflineMode({ enabled }: { enabled: boolean }): Promise<{ previous: boolean | null }> {
      return oncePerStep(
        config.stateDir,
        async (before: HookBefore) => {
          const replied = await setServiceOffline(enabled);
          return { previous: typeof before.previous === 'boolean' && replied !== null ? before.previous : replied };
        },
        async () => (control ? readHookBefore(control, 'offline-mode', { enabled }) : {}),
      );
    },

    /**
     * Confirms offline mode is enforced: the proxy answers a call at once without going out, and
     * the service (if guarded) reports `offline: true`.
     */
    async verifyOfflineMode(): Promise<{ healthyAt: number; detail: string }> {
      const egressProxy = proxy();
      if (!egressProxy.offline) throw new Error('the egress proxy is not offline');
      const endpoint = egressProxy.endpoints[0];
      let detail = 'proxy offline';
      if (endpoint) {
        const started = Date.now();
        const res = await fetch(`${egressProxy.url}/${endpoint.name}${endpoint.probePath}`, {
          headers: egressProxy.authHeaders,
          signal: AbortSignal.timeout(2000),
        });
        await res.arrayBuffer();
        const stale = res.headers.get('x-guardian-stale');
        if (!stale?.startsWith('offline') && res.status !== 503)
          throw new Error(`${endpoint.name} answered ${res.status} through the proxy while offline`);
        detail = `proxy offline: ${endpoint.name} answered ${stale ? 'from cache' : '503'} in ${Date.now() - started} ms`;
      }
      if (control) {
        const health = await control.health();
        if (health.offline !== true) throw new Error('the service does not report offline mode yet');
        detail += '; service offline';
      }
      return { healthyAt: Date.now(), detail };
    },

    /**
     * One probe round. With `holdOffline`, a failed round re-asserts offline mode in the service,
     * so a restarted service stays offline until the network is back. The proxy keeps its offline
     * flag across restarts by itself; a proxy that left offline mode while the round ran (a rollback)
     * is left online, and so is the service.
     */
    async probeNetwork({ holdOffline = false }: { holdOffline?: boolean } = {}): Promise<NetworkProbeResult> {
      const round = await probes().round();
      // A round outlives the cancellation of its workflow (it does not heartbeat): turning offline
      // mode back on after a rollback turned it off would queue writes that no incident drains.
      if (!round.up && holdOffline && proxy().offline) {
        await setServiceOffline(true).catch(() => null);
      }
      const detail = round.results.map((r) => `${r.target} ${r.ok ? `ok ${r.ms} ms` : r.error}`).join('; ');
      return { up: round.up, at: round.at, detail };
    },

    /**
     * Sends the calls queued while offline, oldest first, each at most once. Named by its step
     * (run and activity ID, which a retry keeps), so the summary of a retry after Guardian died
     * mid-drain counts every call the step claimed: sent, refused, or unknown (the one in flight).
     */
    async drainOutbox(): Promise<DrainSummary> {
      const step = currentStep();
      const beat = setInterval(() => Context.current().heartbeat(), 1000);
      try {
        return await proxy().drainOutbox(step ? `${step.runId}/${step.activityId}` : undefined);
      } finally {
        clearInterval(beat);
      }
    },
  };
}
