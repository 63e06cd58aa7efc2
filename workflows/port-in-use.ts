import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import type { PortHolder } from '../activities/ports.js';
import { localQuickActivity, longActivity } from './activity-options.js';
import type { IncidentInput, IncidentResult } from './definitions.js';
import { type IncidentContext, runIncident } from './incident-harness.js';

/** Mode parameters of port-in-use. */
export interface PortInUseParams {
  /** The service's name in guardian.yaml. */
  service: string;
  /** How long the restarted service has to answer on its port. @default 10000 */
  healthTimeoutMs?: number;
}

const quick = proxyLocalActivities<GuardianActivities>(localQuickActivity);
/** Steps that wait (for a process to stop, for the service to answer) are regular activities: see restartActivity. */
const waiting = proxyActivities<GuardianActivities>(longActivity);

/**
 * Failure mode 2. Finds who holds the service's port (from /proc). A stale process the registry
 * proves is Guardian's own is stopped and the port reused; anyone else's is never touched: the
 * service takes the next free port of its range, the port registry and the client files follow,
 * and it restarts there. Rollback probes the old port first: free, the service moves back and the
 * registry and client files are restored; still taken, it keeps running where it is, and says so.
 */
export async function portInUse(input: IncidentInput<PortInUseParams>): Promise<IncidentResult> {
  return runIncident(input, async (ctx) => {
    const conflict = await ctx.step('find-port-holder', () => quick.findPortHolders(), undefined, { inspect: true });
    const { port } = conflict;
    const stale = conflict.holders.filter((h) => h.owner === 'stale');
    const foreign = conflict.holders.filter((h) => h.owner === 'foreign');
    const timeoutMs = input.params.healthTimeoutMs ?? 10_000;

    if (foreign.length > 0) {
      await moveToNextPort(ctx, port, foreign, timeoutMs);
      return;
    }
    if (stale.length > 0) {
      const { stopped } = await ctx.step(
        'stop-stale-process',
        () =>
          waiting.stopStaleServiceProcesses({
            port,
            processes: stale.map(({ pid, startTicks }) => ({ pid, startTicks })),
          }),
        // The stale process cannot come back, but what it did can: the service answers on the port
        // again, so an incident that fails or is rolled back after the stop never leaves it down.
        () => quick.restartServiceOn({ port }),
      );
      ctx.note(
        `stopped Guardian's own stale ${stale.map((h) => h.description).join(', ')} (${stopped.map((s) => s.outcome).join(', ')})`,
      );
    } else if (conflict.free) {
      ctx.note(`port ${port} was free again when inspected`);
    }
    await ctx.step('restart-service', () => quick.restartServiceOn({ port }));
    await ctx.verify('verify', () => waiting.waitForServiceListening({ port, timeoutMs }));
  });
}

/** Someone else's process holds the port: leave it alone and move the service. */
async function moveToNextPort(
  ctx: IncidentContext<PortInUseParams>,
  port: number,
  foreign: PortHolder[],
  timeoutMs: number,
): Promise<void> {
  const { service } = ctx.input.params;
  const holders = foreign.map((h) => h.description).join(', ');
  ctx.note(`port ${port} is held by ${holders}, which Guardian did not start; left untouched`);
  // Should a later step fail, the service stays where it was moved (with registry and clients in
  // step with it) rather than being sent back to a port that is still taken; rollback undoes all.
  const kept = { keepOnFailure: true } as const;
  // Set by the restart's compensation when the old port is still taken: the service stays moved,
  // so the registry and the client files (undone after it) stay in step with it.
  let stayed = false;
  const allocation = await ctx.step(
    'allocate-port',
    () => quick.allocateServicePort({ from: port }),
    async (a) => {
      if (!stayed) await quick.releaseServicePort(a);
    },
    kept,
  );
  const clients = await ctx.step(
    'update-client-configs',
    () => quick.updateClientConfigs({ port: allocation.port }),
    async ({ changed }) => {
      if (!stayed) await quick.restoreClientConfigs({ changed });
    },
    kept,
  );
  const restart = await ctx.step(
    'restart-service',
    () => quick.restartServiceOn({ port: allocation.port }),
    // The contested port, not a previousPort the step reported: a re-run step would report the new one.
    // It is probed first: still taken, the service stays where it runs, and so do registry and clients.
    async () => {
      const back = await quick.moveServiceBack({ port, current: allocation.port });
      if (back.moved) return;
      stayed = true;
      ctx.note(back.detail);
      await ctx.alert(
        `Rollback of ${service}: ${back.detail}. Its port registry entry and client files stay on port ` +
          `${allocation.port}. Free port ${port}, then run: guardian clear port-in-use ${service}`,
        'warning',
      );
    },
    kept,
  );
  await ctx.verify('verify', () => waiting.waitForServiceListening({ port: allocation.port, timeoutMs }));
  const files = clients.changed.map((c) => c.path);
  ctx.note(`moved ${service} from port ${port} to ${allocation.port} (pid ${restart.pid})`);
  await ctx.alert(
    `${service} could not bind port ${port}: it is held by ${holders}, which Guardian did not start and left alone. ` +
      `${service} now listens on port ${allocation.port}` +
      (files.length > 0 ? `; updated ${files.join(', ')}` : '') +
      (clients.missing.length > 0 ? `; not found, so not updated: ${clients.missing.join(', ')}` : '') +
      '. Roll back to move it back once the port is free.',
    'warning',
  );
}
