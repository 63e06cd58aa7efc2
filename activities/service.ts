import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { beat, withHeartbeat } from '../lib/heartbeat.js';
import type { ServiceControl, ServiceHealth } from '../lib/service-control.js';
import type { ActivityDeps } from './deps.js';
import { noService } from '../lib/failures.js';

/** Activities that talk to the guarded service through its control hooks and health route. */
export function createServiceActivities({ config, control }: Pick<ActivityDeps, 'config' | 'control'>) {
  const need = (): ServiceControl => {
    if (!control) throw noService(config.file);
    return control;
  };
  return {
    /**
     * Calls one control hook (see docs/contract.md); the token never leaves this process.
     * `timeoutMs`: how long the service may take (reopening a large database takes long); the
     * step heartbeats meanwhile and gives up when cancelled.
     */
    async callControlHook({
      action,
      body = {},
      timeoutMs,
    }: {
      action: string;
      body?: Record<string, unknown>;
      timeoutMs?: number;
    }): Promise<Record<string, unknown>> {
      const hooks = need();
      return withHeartbeat(
        (signal) => hooks.call(action, body, { ...(timeoutMs === undefined ? {} : { timeoutMs }), signal }),
        () => `waiting for ${action}`,
      );
    },

    /**
     * Polls the health route until the service is up and the `databases` it reports are open with
     * no error, or the timeout passes; returns when it held. A database the service does not report
     * at all is not waited for (the service may not expose it); the result says which those were.
     */
    async waitForServiceHealth({
      databases = [],
      timeoutMs = 10_000,
      intervalMs = 100,
    }: {
      databases?: string[];
      timeoutMs?: number;
      intervalMs?: number;
    }): Promise<{ healthyAt: number; health: ServiceHealth; detail?: string }> {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        beat(last);
        try {
          const health = await need().health();
          const reported = databases.filter((name) => health.databases?.[name] !== undefined);
          const bad = reported.filter((name) => !health.databases?.[name]?.open || health.databases[name]?.lastError);
          if (health.status !== 'booting' && bad.length === 0) {
            const unreported = databases.filter((name) => !reported.includes(name));
            return {
              healthyAt: Date.now(),
              health,
              ...(unreported.length > 0
                ? { detail: `the service does not report ${unreported.join(', ')}; checked the file itself only` }
                : {}),
            };
          }
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
