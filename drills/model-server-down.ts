import type { ModelServer } from '../lib/model-server.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** The signal the model server is stopped with: `pkill ollama` sends SIGTERM; a crash is like SIGKILL. */
const variants = ['SIGTERM', 'SIGKILL'] as const;

/**
 * The model-server-down drill: the spec's `pkill ollama`, done by PID (the drill only signals
 * the model server Guardian started, never processes found by name). Measured until the API
 * answers again and the service's AI feature is back on.
 */
export const modelServerDownDrill: ModeDrill = {
  mode: 'model-server-down',
  targetMs: 20_000,
  async inject(env, run) {
    const server = need(env);
    const running = server.supervisor.running;
    if (!running) throw new Error(`the model server ${server.name} is not running under Guardian`);
    const signal = variants[run % variants.length] ?? 'SIGTERM';
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

function need(env: DrillEnvironment): ModelServer {
  const server = env.runtime.modelServer;
  if (!server) throw new Error('the drill config declares no modelServer');
  return server;
}
