import { ApplicationFailure, Context } from '@temporalio/activity';
import { type ActivityDeps, requireSupervision } from './deps.js';
import { type HealthyAt, waitForHealth } from './health-wait.js';
import { FailureType } from '../lib/failures.js';
import type { ProcessIdentity } from '../lib/supervisor.js';

/** Activities that end lasting overrides on operator request (`guardian clear`). */
export function createOverrideActivities({
  config,
  service,
  registry,
}: Pick<ActivityDeps, 'config' | 'service' | 'registry'>) {
  return {
    /**
     * Moves a service that was moved off its preferred port back to it: the registry forgets the
     * assignment and the client files get the preferred port. Refused, naming why, while the
     * preferred port is still taken.
     */
    async reclaimPreferredPort(): Promise<{ port: number; from: number | null }> {
      const { service: guarded } = requireSupervision({ config, service, registry });
      const outcome = await guarded.reclaimPreferredPort();
      const preferred = guarded.settings.port.preferred;
      if ('from' in outcome) return { port: preferred, from: outcome.from };
      if (outcome.kept === null) return { port: guarded.port ?? preferred, from: null };
      throw ApplicationFailure.nonRetryable(
        `${guarded.name} stays on port ${outcome.kept}: ${outcome.reason}. Free port ${preferred}, then run the command again.`,
        FailureType.PreferredPortTaken,
      );
    },

    /**
     * Waits until the service, started on `port`, reports `ok` on its health route there with the
     * supervised PID (answering while it still boots is not enough). Not within `timeoutMs`, or
     * exited, it fails for good, naming what to do: the wait is the bound.
     */
    async waitForServiceHealthy({ port, timeoutMs }: { port: number; timeoutMs: number }): Promise<HealthyAt> {
      const { service: guarded } = requireSupervision({ config, service, registry });
      let running: ProcessIdentity | undefined;
      try {
        return await waitForHealth(guarded.control, {
          timeoutMs,
          before: () => {
            running = guarded.supervisor.running;
            if (!running) throw new Error(`${guarded.name} exited before it was healthy on port ${port}`);
          },
          judge: (health) =>
            health.status === 'ok' && health.pid === running?.pid && guarded.port === port
              ? { detail: `${guarded.name} is healthy on port ${port} (pid ${health.pid})` }
              : { last: `health answered ${health.status} for pid ${health.pid} on port ${health.port}` },
          timedOut: `${guarded.name} did not report healthy on port ${port} within ${timeoutMs} ms`,
        });
      } catch (err) {
        if (Context.current().cancellationSignal.aborted) throw err;
        const log = guarded.settings.log === undefined ? 'its log' : `its log (${guarded.settings.log})`;
        throw ApplicationFailure.nonRetryable(
          `${(err as Error).message}. It was moved back to port ${port} (the registry and client files point ` +
            `there) and Guardian keeps supervising it; read ${log} for why, and follow it with: guardian status`,
          FailureType.NotReady,
        );
      }
    },
  };
}
