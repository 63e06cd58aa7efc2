import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardianConfigInput } from '../../lib/config/schema.js';
import type { IncidentRecord, Ledger } from '../../lib/ledger.js';
import { freePortRange } from '../../lib/ports.js';
import { isAlive, portHolders, processInfo } from '../../lib/proc.js';
import { type GuardianRuntime, startGuardian } from '../../workers/guardian.js';
import { testConfig } from './fixture.js';
import { workflowBundle } from './temporal.js';

export const root = new URL('../../', import.meta.url).pathname;

/** A free block of `count` ports, away from the ranges other test files start from. */
export function freePorts(count: number): Promise<number> {
  return freePortRange(count, 21000 + Math.floor(Math.random() * 80) * 100);
}

/** Options of {@link lifecycleConfig}. */
export interface LifecycleConfigOptions {
  /** First port of the service's range; the range has `rangeSize` ports. */
  port: number;
  rangeSize?: number;
  env?: Record<string, string>;
  boot?: NonNullable<GuardianConfigInput['service']>['boot'];
  clientConfigs?: { path: string; key: string }[];
  /** A model server: the Ollama stand-in on this port, unless `command` says otherwise. */
  modelServer?: {
    port: number;
    command?: string;
    args?: string[];
    env?: Record<string, string>;
    startTimeout?: string;
    recheckAfter?: string;
    /** The model server's restart budget (modelServer.restart). */
    restart?: NonNullable<GuardianConfigInput['modelServer']>['restart'];
  };
  incidents?: GuardianConfigInput['incidents'];
  /** More of the service's settings (liveness, restart budget, memory limit …). */
  service?: Partial<NonNullable<GuardianConfigInput['service']>>;
}

/** The demo service (examples/grace) with its home at `home`, on `port` or the `rangeSize - 1` ports after it. */
export function graceService(home: string, port: number, rangeSize = 4) {
  return {
    name: 'grace',
    command: process.execPath,
    args: [join(root, 'examples/grace/server.mjs')],
    env: { GRACE_HOME: home, GRACE_LOG_STDOUT: 'false' },
    port: { preferred: port, range: [port, port + rangeSize - 1] as [number, number] },
    log: join(home, 'logs/grace.log'),
    stopTimeout: '2s',
  } satisfies NonNullable<GuardianConfigInput['service']>;
}

/** guardian.yaml for the demo service (and optionally the model server stand-in) under `dir`. */
export function lifecycleConfig(dir: string, options: LifecycleConfigOptions) {
  const home = join(dir, 'grace');
  const { port, rangeSize = 4, modelServer } = options;
  const grace = graceService(home, port, rangeSize);
  return testConfig(dir, {
    service: {
      ...grace,
      env: { ...grace.env, ...options.env },
      ...(options.boot ? { boot: options.boot } : {}),
      ...(options.clientConfigs ? { clientConfigs: options.clientConfigs } : {}),
      ...options.service,
    },
    ...(modelServer
      ? {
          modelServer: {
            name: 'ollama',
            url: `http://127.0.0.1:${modelServer.port}`,
            command: modelServer.command ?? process.execPath,
            args: modelServer.args ?? [join(root, 'examples/ollama-standin/serve.mjs')],
            env: { STANDIN_LATENCY_MS: '1', ...modelServer.env },
            startTimeout: modelServer.startTimeout ?? '10s',
            ...(modelServer.recheckAfter ? { recheckAfter: modelServer.recheckAfter } : {}),
            ...(modelServer.restart ? { restart: modelServer.restart } : {}),
          },
        }
      : {}),
    incidents: options.incidents ?? { rollbackWindow: '1s', flap: { limit: 5, window: '10m' } },
  });
}

/** Starts a whole Guardian (worker, detectors, supervision) against the dev server. */
export async function startTestGuardian(config: ReturnType<typeof lifecycleConfig>): Promise<GuardianRuntime> {
  return startGuardian({
    config,
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
}

/** Polls `check` every 25 ms until it returns a value; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    await sleep(25);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The first incident of `mode` detected at or after `since` that has an outcome. */
export function waitForOutcome(
  ledger: Ledger,
  mode: string,
  since: number,
  timeoutMs = 20_000,
): Promise<IncidentRecord> {
  return waitFor(
    `an outcome of ${mode}`,
    () => ledger.incidents({ mode, limit: 20 }).find((r) => r.detectedAt >= since - 1000 && r.outcome !== 'healing'),
    timeoutMs,
  );
}

/** A process Guardian did not start, holding a port. */
export interface PortHolderProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  alive(): boolean;
  stop(): Promise<void>;
}

/**
 * The spec's own scenario in a separate process: `socket.bind(...)` then `listen(1)`, bound to
 * 127.0.0.1 (tests stay on loopback), as Python would do it. `SO_REUSEADDR` lets it bind while the
 * connections of a service that just left the port linger in TIME_WAIT; it never binds beside a listener.
 */
export function holdPortWithSocket(port: number): Promise<PortHolderProcess> {
  const code = `import socket,sys,time\nsock=socket.socket()\nsock.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\nsock.bind(('127.0.0.1',${port}))\nsock.listen(1)\nprint('ready',flush=True)\ntime.sleep(600)`;
  return startHolder(spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] }), port);
}

/** `python3 -m http.server PORT --bind 127.0.0.1`: an ordinary program that happens to use the port. */
export function holdPortWithHttpServer(port: number): Promise<PortHolderProcess> {
  return startHolder(
    spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], {
      stdio: ['ignore', 'ignore', 'ignore'],
    }),
    port,
  );
}

async function startHolder(child: ChildProcess, port: number): Promise<PortHolderProcess> {
  const pid = child.pid ?? 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(`pid ${pid} to listen on ${port}`, () => portHolders(port).some((h) => h.pid === pid), 10_000);
  return {
    pid,
    child,
    alive: () => child.exitCode === null && child.signalCode === null && isAlive(processInfo(pid)),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
