import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import {
  backupClientConfig,
  type ChangedClientConfig,
  readConfigKey,
  restoreClientConfig,
  setConfigKey,
} from '../lib/client-configs.js';
import { PortBusyError } from '../lib/errors.js';
import { isPortFree } from '../lib/ports.js';
import { describeProcess, portHolders, processInfo } from '../lib/proc.js';
import { type ProcessIdentity, stopVerifiedProcess } from '../lib/supervisor.js';
import { beat } from '../lib/heartbeat.js';
import { fsyncFile } from '../lib/atomic-file.js';
import { exists } from '../lib/files.js';
import { currentStep, runJournaled, stepState } from '../lib/step-state.js';
import { requireSupervision, type SupervisionDeps } from './deps.js';
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

/** Port-in-use activities: who holds the port, stale processes of ours, the port registry, client files, restarts. */
export function createPortActivities(deps: SupervisionDeps) {
  const { config } = deps;
  const need = () => requireSupervision(deps);
  const runId = () => currentStep()?.runId ?? 'direct';

  return {
    /** The port the service last tried, and every process listening on it (from /proc), classified by the registry. */
    async findPortHolders(): Promise<PortConflict> {
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
     * Takes the next free port of the configured range after `from` (wrapping round) and records
     * it in the port registry. Idempotent per incident. No free port: non-retryable failure.
     */
    async allocateServicePort({ from }: { from: number }): Promise<{ port: number; previous: number | null }> {
      const { service, registry } = need();
      const mine = registry.port(service.name);
      if (mine?.incident === runId()) return { port: mine.port, previous: mine.previous };
      const [low, high] = service.settings.port.range;
      const order = [...range(from + 1, high), ...range(low, from - 1)];
      for (const port of order) {
        if (!(await isPortFree(port))) continue;
        const before = registry.assignPort(service.name, port, `port ${from} was taken`, runId());
        return { port, previous: before?.port ?? null };
      }
      throw ApplicationFailure.nonRetryable(
        `no free port for ${service.name} in ${low}–${high} (port ${from} and all others are taken). ` +
          `Free one, or widen service.port.range in ${config.file}.`,
        FailureType.PortRangeExhausted,
      );
    },

    /** Gives back a port taken by `allocateServicePort`: the registry returns to what it held before. */
    async releaseServicePort({ port, previous }: { port: number; previous: number | null }): Promise<void> {
      const { service, registry } = need();
      if (registry.port(service.name)?.port !== port) return;
      if (previous === null) registry.clearPort(service.name);
      else registry.assignPort(service.name, previous, 'rollback');
    },

    /** Writes the new port into each configured client file, keeping a copy of each original. */
    async updateClientConfigs({
      port,
    }: {
      port: number;
    }): Promise<{ dir: string; changed: ChangedClientConfig[]; missing: string[] }> {
      const { service } = need();
      const state = stepState(config.stateDir, ['client-configs'], 'manifest');
      const clients = service.settings.clientConfigs;
      // The originals are copied (and fsynced) and their values read before any file changes; a
      // re-run after a crash rewrites the same files and reports the same originals.
      const { changed, missing } = await runJournaled(state, {
        async plan() {
          const changed: (ChangedClientConfig & { key: string })[] = [];
          const missing: string[] = [];
          for (const [index, client] of clients.entries()) {
            if (!(await exists(client.path))) {
              missing.push(client.path);
              continue;
            }
            const backup = await backupClientConfig(client.path, state.dir, index);
            await fsyncFile(backup);
            const before = await readConfigKey(client.path, client.key);
            changed.push({ path: client.path, key: client.key, backup, before: before ?? null });
          }
          return { changed, missing };
        },
        async act(journal) {
          for (const file of journal.changed) await setConfigKey(file.path, file.key, port);
          return { changed: journal.changed.map(({ key: _, ...file }) => file), missing: journal.missing };
        },
      });
      return { dir: state.dir, changed, missing };
    },

    /** Puts every changed client file back byte-identical. */
    async restoreClientConfigs({ changed }: { changed: ChangedClientConfig[] }): Promise<{ restored: string[] }> {
      for (const file of changed) await restoreClientConfig(file);
      return { restored: changed.map((c) => c.path) };
    },

    /** Starts the service on `port` (stopping it first if it runs elsewhere); a no-op when it already runs there. */
    async restartServiceOn({
      port,
    }: {
      port: number;
    }): Promise<{ pid: number; port: number; previousPort: number | null }> {
      const { service } = need();
      const previousPort = service.port ?? null;
      try {
        const identity = await service.startOn(port);
        return { pid: identity.pid, port, previousPort };
      } catch (err) {
        if (err instanceof PortBusyError) {
          throw ApplicationFailure.nonRetryable(
            `port ${port} is taken (${describeHolders(port)}); ${service.name} was not started there`,
            FailureType.PortTaken,
          );
        }
        throw err;
      }
    },

    /**
     * Rollback of a move: probes `port` before stopping anything. Still taken, the service keeps
     * running on `current`, untouched, and the result says so (never stopped and left down).
     * Free, it restarts there; taken in the moment between, it starts on `current` again.
     */
    async moveServiceBack({
      port,
      current,
    }: {
      port: number;
      current: number;
    }): Promise<{ moved: boolean; port: number; detail: string }> {
      const { service } = need();
      const host = service.settings.env.HOST ?? '127.0.0.1';
      const stay = (why: string) => ({
        moved: false,
        port: current,
        detail: `port ${port} is ${why} (${describeHolders(port)}); ${service.name} keeps running on port ${current}`,
      });
      if (portHolders(port).length > 0 || !(await isPortFree(port, host))) return stay('still taken');
      try {
        const identity = await service.startOn(port);
        return { moved: true, port, detail: `${service.name} is back on port ${port} (pid ${identity.pid})` };
      } catch (err) {
        if (!(err instanceof PortBusyError)) throw err;
        await service.startOn(current);
        return stay('taken again at the moment of the move');
      }
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

function range(from: number, to: number): number[] {
  return from > to ? [] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function describeHolders(port: number): string {
  const holders = portHolders(port);
  return holders.length === 0 ? 'holder unknown' : `held by ${holders.map(describeProcess).join(', ')}`;
}
