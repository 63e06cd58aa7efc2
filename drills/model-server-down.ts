import { processInfo, sameProcess } from '../lib/proc.js';
import type { DrillEnvironment, Injection, ModeDrill } from './types.js';

/** The signal the model server is stopped with: `pkill ollama` sends SIGTERM; a crash is like SIGKILL. */
const variants = ['SIGTERM', 'SIGKILL'] as const;

/**
 * The model-server-down drill: the spec's `pkill ollama`, done by PID (the drill only signals
 * the model server Guardian started, never processes found by name). Measured until the API
 * answers again and the service's AI feature is back on. On a Guardian running in another
 * process, the target is the model server process its registry records as running, proven by
 * PID, start time and command line; that Guardian's restart budget is left as it stands.
 */
export const modelServerDownDrill: ModeDrill = {
  mode: 'model-server-down',
  targetMs: 20_000,
  attachable: true,
  async inject(env, run) {
    const signal = variants[run % variants.length] ?? 'SIGTERM';
    const server = env.runtime.modelServer;
    if (!server) return injectAttached(env, signal);
    const running = server.supervisor.running;
    if (!running) throw new Error(`the model server ${server.name} is not running under Guardian`);
    const injectedAt = Date.now();
    process.kill(running.pid, signal);
    return {
      resource: server.name,
      injectedAt,
      variant: `${signal} to pid ${running.pid}`,
      cleanup: async () => {
        // A run that did not heal must not leave the next one without a model server.
        if (!(await server.probe(500)).ok) await server.ensureStarted().catch(() => undefined);
      },
    };
  },
};

/** Signals the model server a Guardian in another process started; that Guardian brings it back. */
async function injectAttached(env: DrillEnvironment, signal: (typeof variants)[number]): Promise<Injection> {
  const name = env.runtime.config.modelServer?.name;
  if (!name) throw new Error(`${env.runtime.config.file} declares no modelServer`);
  const target = env.runtime.registry.latestRunning(name);
  if (!target || !sameProcess(processInfo(target.pid), target))
    throw new Error(
      `the running Guardian's registry names no live process of the model server ${name} (is it started by ` +
        'Guardian, modelServer.supervise?); see: guardian status',
    );
  const injectedAt = Date.now();
  process.kill(target.pid, signal);
  return {
    resource: name,
    injectedAt,
    variant: `${signal} to pid ${target.pid}`,
    cleanup: async () => undefined,
  };
}
