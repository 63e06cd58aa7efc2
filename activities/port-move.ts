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
import { describePortHolders, portHolders } from '../lib/proc.js';
import { fsyncFile } from '../lib/atomic-file.js';
import { exists } from '../lib/files.js';
import { currentStep, oncePerStep, runJournaled, stepState } from '../lib/step-state.js';
import { requireSupervision, type SupervisionDeps } from './deps.js';
import { FailureType } from '../lib/failures.js';

/**
 * Moving the service to another port and back: the port registry's assignment, the client files
 * that name the port, and the rollback that probes the old port before it moves the service.
 */
export function createPortMoveActivities(deps: SupervisionDeps) {
  const { config } = deps;
  const need = () => requireSupervision(deps);
  const runId = () => currentStep()?.runId ?? 'direct';

  return {
    /**
     * Takes the next free port of the configured range after `from` (wrapping round) and records
     * it in the port registry, tagged with the run. Once per step: the journal is written before
     * the registry changes, and a re-run after a crash in between finds the run's own tag and
     * returns that port. No free port: non-retryable failure.
     */
    async allocateServicePort({ from }: { from: number }): Promise<{ port: number; previous: number | null }> {
      return oncePerStep(config.stateDir, async () => {
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
      });
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

    /**
     * Rollback of a move: probes `port` before stopping anything. Still taken, the service keeps
     * running on `current`, untouched, and the result says so (never stopped and left down).
     * Free, it restarts there; taken in the moment between, it starts on `current` again. Once per
     * step; a re-run after a crash that came after the move finds the service on `port` already.
     */
    async moveServiceBack({
      port,
      current,
    }: {
      port: number;
      current: number;
    }): Promise<{ moved: boolean; port: number; detail: string }> {
      return oncePerStep(config.stateDir, async () => {
        const { service } = need();
        const running = service.supervisor.running;
        const back = (pid: number) => ({
          moved: true,
          port,
          detail: `${service.name} is back on port ${port} (pid ${pid})`,
        });
        if (running && service.port === port) return back(running.pid);
        const host = service.settings.env.HOST ?? '127.0.0.1';
        const stay = (why: string) => ({
          moved: false,
          port: current,
          detail: `port ${port} is ${why} (${describePortHolders(port)}); ${service.name} keeps running on port ${current}`,
        });
        if (portHolders(port).length > 0 || !(await isPortFree(port, host))) return stay('still taken');
        try {
          return back((await service.startOn(port)).pid);
        } catch (err) {
          if (!(err instanceof PortBusyError)) throw err;
          await service.startOn(current);
          return stay('taken again at the moment of the move');
        }
      });
    },
  };
}

function range(from: number, to: number): number[] {
  return from > to ? [] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
