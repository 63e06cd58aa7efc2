import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { PortBusyError } from '../lib/errors.js';
import { isPortFree } from '../lib/ports.js';
import { describePortHolders, describeProcess, portHolders, processInfo } from '../lib/proc.js';
import { type ProcessIdentity, stopVerifiedProcess } from '../lib/supervisor.js';
import { beat } from '../lib/heartbeat.js';
import { oncePerStep } from '../lib/step-state.js';
import { requireSupervision, type SupervisionDeps } from './deps.js';
import { createPortMoveActivities } from './port-move.js';
import { waitForHealth } from './health-wait.js';
import { FailureType } from '../lib/failures.js';

/** A process listening on the contested port, and whose it is. */
export interface PortHolder {
  pid: number;
  startTicks: number;
  /** Command line for people (cut, secrets hidden). */
  description: string;
  /** current: the supervised service itself; stale: proven Guardian's (registry), but not current; foreign: anyone else's. */
  owner: 'current' | 'stale' | 'foreign';
}

/** What `findPortHolders` found on the service's port. */
export interface PortConflict {
  service: string;
  port: number;
  free: boolean;
  holders: PortHolder[];
}

/**
 * Port-in-use activities: who holds the port, stale processes of ours, restarts on a port, and
 * (activities/port-move.ts) the move to another port with the registry and the client files.
 */
export function createPortActivities(deps: SupervisionDeps) {
  const { config } = deps;
  const need = () => requireSupervision(deps);

  return {
    ...createPortMoveActivities(deps),

    /**
     * The port the service last tried, and every process listening on it (from /proc), classified
     * by the registry. Once per step: a re-run (a replay after Guardian died) returns the first
     * finding, so the replay takes the path the first run took, undos included, even though the
     * first run's move or restart changed what a fresh look would find.
     */
    async findPortHolders(): Promise<PortConflict> {
      return oncePerStep(config.stateDir, async () => {
        const { service, registry } = need();
        const port = service.lastAttemptedPort;
        const current = service.supervisor.running;
        const holders = portHolders(port).map((info): PortHolder => {
          const own = registry.provenOwn(info);
          const isCurrent = current !== undefined && current.pid === info.pid && current.startTicks === info.startTicks;
          return {
            pid: info.pid,
            startTicks: info.startTicks,
            description: describeProcess(info),
            owner: isCurrent ? 'current' : own && own.name === service.name ? 'stale' : 'foreign',
          };
        });
        const free = holders.length === 0 && (await isPortFree(port));
        return { service: service.name, port, free, holders };
      });
    },

    /**
     * Stops processes the registry proves are stale instances of the service (PID, start time and
     * command line all match a process Guardian started); one Guardian supervises again by now (re-adopted
     * after a restart) is left running. Anything else is refused, untouched.
     * Waits until the port is free.
     */
    async stopStaleServiceProcesses({
      processes,
      port,
    }: {
      processes: { pid: number; startTicks: number }[];
      port: number;
    }): Promise<{ stopped: { pid: number; outcome: string }[] }> {
      const { service, registry } = need();
      const stopped: { pid: number; outcome: string }[] = [];
      for (const { pid, startTicks } of processes) {
        const info = processInfo(pid);
        if (!info || info.startTicks !== startTicks) {
          stopped.push({ pid, outcome: 'not-running' }); // gone, or the PID was reused: nothing of ours to stop
          continue;
        }
        // Re-adopted as the running service since it was found (a Guardian restart in between):
        // it is the service now, not a stale copy, and restart-service keeps it where it listens.
        if (service.supervisor.running?.pid === pid) {
          stopped.push({ pid, outcome: 'supervised' });
          continue;
        }
        const entry = registry.provenOwn(info);
        if (!entry || entry.name !== service.name) {
          throw ApplicationFailure.nonRetryable(
            `refusing to signal ${describeProcess(info)}: it is not a stale process Guardian started`,
            FailureType.NotOwnProcess,
          );
        }
        beat(pid);
        const outcome = await stopVerifiedProcess(entry, service.settings.stopTimeout);
        if (outcome === 'survived') throw new Error(`${describeProcess(info)} survived SIGKILL`);
        registry.recordEnd(entry.id, { signal: outcome === 'killed' ? 'SIGKILL' : 'SIGTERM' });
        stopped.push({ pid, outcome });
      }
      const waitForPort = stopped.some((s) => s.outcome !== 'supervised');
      for (let i = 0; waitForPort && i < 100 && !(await isPortFree(port)); i++) await sleep(20);
      return { stopped };
    },

    /**
     * Starts the service on `port` (stopping it first if it runs elsewhere); a no-op when it already
     * runs there. Once per step: a re-run returns the first start.
     */
    async restartServiceOn({
      port,
    }: {
      port: number;
    }): Promise<{ pid: number; port: number; previousPort: number | null }> {
      return oncePerStep(config.stateDir, async () => {
        const { service } = need();
        const previousPort = service.port ?? null;
        try {
          const identity = await service.startOn(port);
          return { pid: identity.pid, port, previousPort };
        } catch (err) {
          if (err instanceof PortBusyError) {
            throw ApplicationFailure.nonRetryable(
              `port ${port} is taken (${describePortHolders(port)}); ${service.name} was not started there`,
              FailureType.PortTaken,
            );
          }
          throw err;
        }
      });
    },

    /** Waits until the service answers its health route on `port` with the supervised PID. */
    async waitForServiceListening({
      port,
      timeoutMs = 10_000,
    }: {
      port: number;
      timeoutMs?: number;
    }): Promise<{ healthyAt: number; detail: string }> {
      const { service } = need();
      let running: ProcessIdentity | undefined;
      return waitForHealth(service.control, {
        timeoutMs,
        before: () => {
          running = service.supervisor.running;
          if (!running) throw new Error(`${service.name} is not running (it exited before answering on port ${port})`);
        },
        judge: (health) =>
          health.pid === running?.pid && service.port === port
            ? { detail: `${service.name} answers on port ${port} (pid ${health.pid})` }
            : { last: `health answered for pid ${health.pid} on port ${health.port}` },
        timedOut: `${service.name} did not answer on port ${port} within ${timeoutMs} ms`,
      });
    },
  };
}
