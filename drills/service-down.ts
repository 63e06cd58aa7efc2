import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardianConfig } from '../lib/config/load.js';
import type { GuardedService } from '../lib/guarded-service.js';
import { processInfo, sameProcess } from '../lib/proc.js';
import type { RegisteredProcess } from '../lib/process-registry.js';
import type { DrillEnvironment, Injection, ModeDrill } from './types.js';

/** The memory limit the drill has Guardian set on the demo (a cgroup of its own): it idles near 70 MB. */
export const DRILL_MEMORY_LIMIT = 384 * 1048576;
/** What the memory-kill variant allocates: past the limit, so the kernel's OOM killer ends the service. */
const MEMORY_KILL_MB = 640;

/** How the service goes down, each one real; variants cycle per run. */
export const SERVICE_DOWN_VARIANTS = ['SIGKILL', 'exit-1', 'uncaught-exception', 'hang', 'memory-kill'] as const;

/** One variant of the drill. */
export type ServiceDownVariant = (typeof SERVICE_DOWN_VARIANTS)[number];

/** The variants a config allows: the memory kill only under a configured `service.memoryLimit`. */
export function serviceDownVariants(config: GuardianConfig): readonly ServiceDownVariant[] {
  return config.service?.memoryLimit === undefined
    ? SERVICE_DOWN_VARIANTS.filter((v) => v !== 'memory-kill')
    : SERVICE_DOWN_VARIANTS;
}

/**
 * The service-down drill: `kill -9` of the demo's process, `process.exit(1)` and an uncaught
 * exception from inside it (its debug routes), a hang (SIGSTOP: alive, silent), and a memory
 * kill (it allocates past the memory limit Guardian set for it, and the kernel kills it). In a
 * Guardian of its own, each run starts with a fresh restart budget, as after `guardian resume`,
 * and the service gets a memory limit; on a running Guardian the process its registry names is
 * the target, its restart budget is left as it stands, and the memory kill runs only when
 * guardian.yaml sets `service.memoryLimit`.
 */
export const serviceDownDrill: ModeDrill = {
  mode: 'service-down',
  targetMs: 10_000,
  attachable: true,
  async configure(config) {
    if (!config.service) return config;
    return { ...config, service: { ...config.service, memoryLimit: config.service.memoryLimit ?? DRILL_MEMORY_LIMIT } };
  },
  async inject(env, run) {
    const variants = serviceDownVariants(env.runtime.config);
    return injectServiceDown(env, variants[run % variants.length] ?? 'SIGKILL');
  },
};

/** Brings the demo service down one way, for real; the injection's cleanup leaves it running normally. */
export async function injectServiceDown(env: DrillEnvironment, variant: ServiceDownVariant): Promise<Injection> {
  const service = env.runtime.service;
  if (!service) return injectAttached(env, variant);
  const running = service.supervisor.running;
  const port = service.port;
  if (!running || port === undefined) throw new Error(`${service.name} is not running under Guardian`);
  service.restarts.resume(service.name);
  const injectedAt = await bringDown(running.pid, port, variant);
  return {
    resource: service.name,
    injectedAt,
    variant: `${variant} (pid ${running.pid})`,
    cleanup: () => cleanup(service, running.pid),
  };
}

/**
 * On a Guardian running in another process: the target is the newest process its registry
 * records as running the service, proven by PID, start time and command line before any signal.
 * Nothing of that Guardian's own state (its restart budget, its service's environment) is
 * touched; cleanup only continues a process the hang variant stopped, if Guardian has not ended it.
 */
async function injectAttached(env: DrillEnvironment, variant: ServiceDownVariant): Promise<Injection> {
  const name = env.runtime.config.service?.name;
  if (!name) throw new Error(`${env.runtime.config.file} declares no service`);
  const target = env.runtime.registry.latestRunning(name);
  if (!target || !sameProcess(processInfo(target.pid), target))
    throw new Error(`the running Guardian's registry names no live process of ${name}; is it up? See: guardian status`);
  const port = target.port ?? env.servicePort();
  if (port === undefined) throw new Error(`the running Guardian's registry records no port for ${name}`);
  const injectedAt = await bringDown(target.pid, port, variant);
  return {
    resource: name,
    injectedAt,
    variant: `${variant} (pid ${target.pid})`,
    cleanup: async () => continueIfStopped(target),
  };
}

/** Acts for real on the process `pid` listening on `port`; returns when the fault was in place. */
async function bringDown(pid: number, port: number, variant: ServiceDownVariant): Promise<number> {
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  const injectedAt = Date.now();
  switch (variant) {
    case 'SIGKILL':
    case 'hang':
      process.kill(pid, variant === 'hang' ? 'SIGSTOP' : 'SIGKILL');
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
  return injectedAt;
}

/** A process the hang variant stopped, continued if it is still that very process. */
function continueIfStopped(target: RegisteredProcess): void {
  if (!sameProcess(processInfo(target.pid), target)) return;
  try {
    process.kill(target.pid, 'SIGCONT');
  } catch {
    // Gone meanwhile, as it should be.
  }
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
