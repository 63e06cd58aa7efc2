import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { describeExit } from '../detectors/service-down.js';
import { PortBusyError } from '../lib/errors.js';
import type { GuardedService } from '../lib/guarded-service.js';
import { beat } from '../lib/heartbeat.js';
import { portHolders } from '../lib/proc.js';
import { currentStep, oncePerStep } from '../lib/step-state.js';
import { ControlHookError } from '../lib/service-control.js';
import { type ActivityDeps, requireSupervision } from './deps.js';
import { spendRestart } from './restart-budget.js';
import { FailureType } from '../lib/failures.js';

/**
 * Restart activities of service-down's steps: the restart itself (spending the restart budget of
 * activities/restart-budget.ts), readiness and verification, the end of low-memory mode.
 */
export function createServiceRestartActivities(deps: Pick<ActivityDeps, 'config' | 'service' | 'registry' | 'logger'>) {
  return {
    /**
     * Starts the service again on its port, counted once per `key` in the restart budget. With
     * `lowMemory`, it starts in low-memory mode (GUARDIAN_LOW_MEMORY=true) and stays so for later
     * starts, across restarts of Guardian (supervision.db), until a rollback or `guardian clear
     * service-down <service>` ends it. A no-op when it already runs (a re-run of the step).
     */
    async restartService({
      key,
      cause,
      lowMemory,
    }: {
      key: string;
      cause: string;
      lowMemory: boolean;
    }): Promise<{ pid: number; port: number; startedAt: number; lowMemory: boolean; action: 'started' | 'running' }> {
      const { service } = requireSupervision(deps);
      // A re-run (a retried workflow task runs local activities again) returns the first start,
      // even when that process has died since: wait-ready then sees it gone and the budget decides.
      return oncePerStep(deps.config.stateDir, () => startCounted(service, { key, cause, lowMemory }));
    },

    /**
     * Waits until the restarted process (`pid`) answers its health route with a status other than
     * `booting`. Fails at once when that process exits first, naming how it ended.
     */
    async waitForServiceReady({
      pid,
      timeoutMs,
      intervalMs = 20,
    }: {
      pid: number;
      timeoutMs: number;
      intervalMs?: number;
    }): Promise<{ readyAt: number; status: string }> {
      const { service } = requireSupervision(deps);
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        if (service.supervisor.running?.pid !== pid) {
          const exit = service.supervisor.lastExit;
          const how =
            exit?.pid === pid ? describeExit(service.name, exit.code, exit.signal) : `${service.name} was replaced`;
          throw ApplicationFailure.nonRetryable(
            `${how} before it was ready (${last})`,
            FailureType.ExitedWhileStarting,
          );
        }
        try {
          const health = await service.control.health(Math.max(100, Math.min(1000, deadline - Date.now())));
          if (health.pid === pid && health.status !== 'booting') return { readyAt: Date.now(), status: health.status };
          last = `status ${health.status}${health.pid === pid ? '' : ` from pid ${health.pid}`}`;
        } catch (err) {
          last = (err as Error).message;
        }
        beat(last);
        await sleep(intervalMs, undefined, { signal: Context.current().cancellationSignal });
      }
      throw ApplicationFailure.nonRetryable(
        `${service.name} (pid ${pid}) was not ready within ${timeoutMs} ms: ${last}`,
        FailureType.NotReady,
      );
    },

    /** Confirms the restarted process is the one supervised and answers; its `healthyAt` is healedAt. */
    async verifyServiceUp({ pid }: { pid: number }): Promise<{ healthyAt: number; detail: string }> {
      const { service } = requireSupervision(deps);
      const running = service.supervisor.running;
      if (running?.pid !== pid) throw new Error(`${service.name} pid ${pid} is no longer the supervised process`);
      const health = await service.control.health();
      if (health.pid !== pid || health.status === 'booting') {
        throw new Error(`${service.name} answered as pid ${health.pid} with status ${health.status}`);
      }
      return { healthyAt: Date.now(), detail: `${service.name} runs again as pid ${pid} (${health.status})` };
    },

    /**
     * Rollback of a restart in low-memory mode (and `guardian clear service-down <service>`): later
     * starts go without GUARDIAN_LOW_MEMORY (the mark in supervision.db is removed), and the running
     * service leaves low-memory mode through its control hook. The restart itself stays.
     * `marked`: later starts were in low-memory mode; `ended`: the running service was told.
     */
    async endLowMemoryMode(): Promise<{ marked: boolean; ended: boolean }> {
      const { service } = requireSupervision(deps);
      const marked = service.lowMemoryStarts.clear(service.name);
      if (!service.supervisor.running) return { marked, ended: false };
      try {
        await service.control.call('low-memory-mode', { enabled: false });
        return { marked, ended: true };
      } catch (err) {
        if (err instanceof ControlHookError && err.status === undefined) return { marked, ended: false };
        throw err;
      }
    },
  };
}

/** Starts the service unless it runs, after checking the budget; counts the restart once per key. */
async function startCounted(
  service: GuardedService,
  { key, cause, lowMemory }: { key: string; cause: string; lowMemory: boolean },
): Promise<{ pid: number; port: number; startedAt: number; lowMemory: boolean; action: 'started' | 'running' }> {
  const running = service.supervisor.running;
  if (running)
    return { pid: running.pid, port: service.port ?? 0, startedAt: running.startedAt, lowMemory, action: 'running' };
  spendRestart(service, { key, cause });
  if (lowMemory) service.lowMemoryStarts.mark(service.name, currentStep()?.workflowId ?? null);
  const port = service.port ?? service.intendedPort();
  await untilReleased(port, service.supervisor.lastExit?.pid);
  try {
    const started = await service.startOn(port);
    return { pid: started.pid, port, startedAt: started.startedAt, lowMemory, action: 'started' };
  } catch (err) {
    if (err instanceof PortBusyError) {
      throw ApplicationFailure.nonRetryable(
        `${service.name} could not restart: port ${port} is taken (port-in-use takes it from here)`,
        FailureType.PortBusy,
      );
    }
    throw err;
  }
}

/** Waits (up to 3 s) while the process that just ended still holds `port`: the kernel tears a big one down slowly. */
async function untilReleased(port: number, ended: number | undefined): Promise<void> {
  if (ended === undefined) return;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && portHolders(port).some((h) => h.pid === ended)) await sleep(20);
}
