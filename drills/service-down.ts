import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardedService } from '../lib/guarded-service.js';
import type { DrillEnvironment, Injection, ModeDrill } from './types.js';

/** The memory limit the drill has Guardian set on the demo (a cgroup of its own): it idles near 70 MB. */
export const DRILL_MEMORY_LIMIT = 384 * 1048576;
/** What the memory-kill variant allocates: past the limit, so the kernel's OOM killer ends the service. */
const MEMORY_KILL_MB = 640;

/** How the service goes down, each one real; variants cycle per run. */
export const SERVICE_DOWN_VARIANTS = ['SIGKILL', 'exit-1', 'uncaught-exception', 'hang', 'memory-kill'] as const;

/** One variant of the drill. */
export type ServiceDownVariant = (typeof SERVICE_DOWN_VARIANTS)[number];

/**
 * The service-down drill: `kill -9` of the demo's process, `process.exit(1)` and an uncaught
 * exception from inside it (its debug routes), a hang (SIGSTOP: alive, silent), and a memory
 * kill (it allocates past the memory limit Guardian set for it, and the kernel kills it). Each
 * run starts with a fresh restart budget, as after `guardian resume`.
 */
export const serviceDownDrill: ModeDrill = {
  mode: 'service-down',
  targetMs: 10_000,
  async configure(config) {
    if (!config.service) return config;
    return { ...config, service: { ...config.service, memoryLimit: config.service.memoryLimit ?? DRILL_MEMORY_LIMIT } };
  },
  async inject(env, run) {
    const variant = SERVICE_DOWN_VARIANTS[run % SERVICE_DOWN_VARIANTS.length] ?? 'SIGKILL';
    return injectServiceDown(env, variant);
  },
};

/** Brings the demo service down one way, for real; the injection's cleanup leaves it running normally. */
export async function injectServiceDown(env: DrillEnvironment, variant: ServiceDownVariant): Promise<Injection> {
  const service = need(env);
  const running = service.supervisor.running;
  const port = service.port;
  if (!running || port === undefined) throw new Error(`${service.name} is not running under Guardian`);
  service.restarts.resume(service.name);
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  const injectedAt = Date.now();
  switch (variant) {
    case 'SIGKILL':
    case 'hang':
      process.kill(running.pid, variant === 'hang' ? 'SIGSTOP' : 'SIGKILL');
      break;
    case 'exit-1':
      await post(url('/debug/exit'), { code: 1 }, 202);
      break;
    case 'uncaught-exception':
      await post(url('/debug/throw'), {}, 202);
      break;
    case 'memory-kill':
      // The reply never comes: the kernel kills the service mid-allocation.
      void fetch(url('/debug/allocate'), { method: 'POST', body: JSON.stringify({ mb: MEMORY_KILL_MB }) }).catch(
        () => undefined,
      );
      break;
  }
  return {
    resource: service.name,
    injectedAt,
    variant: `${variant} (pid ${running.pid})`,
    cleanup: () => cleanup(service, running.pid),
  };
}

/** Leaves the demo as the next run needs it: the stopped process continued, low-memory mode off, running. */
async function cleanup(service: GuardedService, pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Gone, as it should be.
  }
  service.setEnv({ GUARDIAN_LOW_MEMORY: undefined });
  await service.control.call('low-memory-mode', { enabled: false }).catch(() => undefined);
  service.restarts.resume(service.name);
  if (!service.supervisor.running) await service.startOn(service.intendedPort()).catch(() => undefined);
  await sleep(50);
}

async function post(url: string, body: unknown, status: number): Promise<void> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  if (res.status !== status) throw new Error(`the demo answered ${res.status} to POST ${url}: ${await res.text()}`);
}

function need(env: DrillEnvironment): GuardedService {
  const service = env.runtime.service;
  if (!service) throw new Error('the drill config declares no service');
  return service;
}
