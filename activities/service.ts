import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ServiceControl, ServiceHealth } from '../lib/service-control.js';
import type { ActivityDeps } from './deps.js';

/** Activities that talk to the guarded service through its control hooks and health route. */
export function createServiceActivities({ control }: Pick<ActivityDeps, 'control'>) {
  const need = (): ServiceControl => {
    if (!control) throw ApplicationFailure.nonRetryable('guardian.yaml declares no service to control', 'NoService');
    return control;
  };
  return {
    /** Calls one control hook (see docs/contract.md); the token never leaves this process. */
    async callControlHook({
      action,
      body = {},
    }: {
      action: string;
      body?: Record<string, unknown>;
    }): Promise<Record<string, unknown>> {
      return need().call(action, body);
    },

    /**
     * Polls the health route until `accept` holds or the timeout passes; returns when it held.
     * `databases`: those must be open with no error. `status`: the overall status wanted.
     */
    async waitForServiceHealth({
      databases = [],
      timeoutMs = 10_000,
      intervalMs = 100,
    }: {
      databases?: string[];
      timeoutMs?: number;
      intervalMs?: number;
    }): Promise<{ healthyAt: number; health: ServiceHealth }> {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        Context.current().heartbeat(last);
        try {
          const health = await need().health();
          const bad = databases.filter((name) => !health.databases?.[name]?.open || health.databases[name]?.lastError);
          if (health.status !== 'booting' && bad.length === 0) return { healthyAt: Date.now(), health };
          last = `status ${health.status}; not yet healthy: ${bad.join(', ') || 'booting'}`;
        } catch (err) {
          last = (err as Error).message;
        }
        await sleep(intervalMs, undefined, { signal: Context.current().cancellationSignal });
      }
      throw new Error(`service not healthy after ${timeoutMs} ms: ${last}`);
    },
  };
}
