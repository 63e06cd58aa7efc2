import type { TrialResult } from '../lib/egress/proxy.js';
import type { CircuitState } from '../lib/egress/store.js';
import { type ActivityDeps, knownEndpoint, requireEgress } from './deps.js';
import { probeThroughProxy } from './proxy-probe.js';

/** An endpoint's circuit and timeout, as a compensation puts them back. */
export interface CircuitSnapshot {
  circuit: CircuitState;
  timeoutMs: number;
}

/** HTTP activities for api-timeout: the egress proxy's circuit breaker, driven by the workflow. */
export function createHttpActivities({ egress }: Pick<ActivityDeps, 'egress'>) {
  const proxy = () => requireEgress(egress);
  const known = (endpoint: string) => knownEndpoint(egress, endpoint);
  const snapshot = (endpoint: string): CircuitSnapshot => {
    const { circuit, timeoutMs } = proxy().route(endpoint);
    return { circuit, timeoutMs };
  };

  return {
    /** Opens the circuit: calls go to the backup, or get the last good reply marked stale. */
    async openCircuit({
      endpoint,
      timeoutMs,
    }: {
      endpoint: string;
      timeoutMs: number;
    }): Promise<CircuitSnapshot & { backup: boolean }> {
      const settings = known(endpoint);
      const before = snapshot(endpoint);
      proxy().setCircuit(endpoint, 'open', timeoutMs);
      return { ...before, backup: settings.backup !== undefined };
    },

    /** Closes the circuit with the given (normal) timeout: the primary gets the traffic again. */
    async closeCircuit({ endpoint, timeoutMs }: { endpoint: string; timeoutMs: number }): Promise<CircuitSnapshot> {
      known(endpoint);
      const before = snapshot(endpoint);
      proxy().setCircuit(endpoint, 'closed', timeoutMs);
      return before;
    },

    /** Puts back a circuit and timeout exactly as they were (compensation). */
    async restoreCircuit({ endpoint, state }: { endpoint: string; state: CircuitSnapshot }): Promise<void> {
      known(endpoint);
      proxy().setCircuit(endpoint, state.circuit, state.timeoutMs);
    },

    /**
     * Half-open: one trial call to the primary with the given timeout. A failure opens the circuit
     * again with that timeout, unless the circuit was changed while the trial ran (a rollback
     * closed it); a success leaves it half-open for the workflow to close.
     */
    async trialPrimary({ endpoint, timeoutMs }: { endpoint: string; timeoutMs: number }): Promise<TrialResult> {
      known(endpoint);
      proxy().setCircuit(endpoint, 'half-open', timeoutMs);
      const result = await proxy().trial(endpoint, timeoutMs);
      // A refused credential means the endpoint answers: that is for invalid-credentials, not the breaker.
      const answered = result.ok || result.status === 401 || result.status === 403;
      // A trial outlives the cancellation of its workflow (it does not heartbeat): reopening a
      // circuit a rollback has closed meanwhile would leave it open with no incident to close it.
      if (!answered && proxy().route(endpoint).circuit === 'half-open') proxy().setCircuit(endpoint, 'open', timeoutMs);
      return { ...result, ok: answered };
    },

    /**
     * Confirms the open circuit is enforced: a call through the proxy is answered without the
     * primary (backup, stale cache, or a fast 503), within a second.
     */
    async verifyCircuitOpen({ endpoint }: { endpoint: string }): Promise<{ healthyAt: number; detail: string }> {
      const settings = known(endpoint);
      const { circuit } = proxy().route(endpoint);
      if (circuit === 'closed') throw new Error(`the circuit of ${endpoint} is closed`);
      const { status, route, ms } = await probeThroughProxy(proxy(), endpoint, settings.probePath);
      if (route === 'primary') throw new Error(`a call to ${endpoint} still reached the primary`);
      const how =
        route === 'backup'
          ? `backup answered ${status}`
          : route === 'cache'
            ? 'stale reply served from cache'
            : `refused fast (${status})`;
      return { healthyAt: Date.now(), detail: `circuit open: ${how} in ${ms} ms` };
    },
  };
}
