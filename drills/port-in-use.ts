import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardianConfig } from '../lib/config/load.js';
import type { GuardedService } from '../lib/guarded-service.js';
import { portHolders } from '../lib/proc.js';
import { Supervisor } from '../lib/supervisor.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** Someone on the port: started by the drill, gone after `stop`. */
interface Holder {
  readonly pid: number;
  stop(): Promise<void>;
}

/** How the port gets taken while the service restarts; each is a real process on the port. */
const variants = ['socket', 'http-server', 'stale-own-process', 'exit-98'] as const;

/**
 * The port-in-use drill. Each run stops the demo service, puts a process on its port, and starts
 * the service again: `socket` is the spec's scenario (a Python socket bound and listening),
 * `http-server` an ordinary `python3 -m http.server`, `stale-own-process` a Grace left behind by
 * an earlier Guardian (registered, so provably Guardian's), and `exit-98` the socket again but
 * without Guardian's bind probe, so the service itself fails with EADDRINUSE and exits 98.
 * injectedAt is the moment the service tries to start on the taken port.
 */
export const portInUseDrill: ModeDrill = {
  mode: 'port-in-use',
  targetMs: 10_000,
  async configure(config: GuardianConfig): Promise<GuardianConfig> {
    if (!config.service) return config;
    // A client of the service whose configuration Guardian keeps in step with the port.
    const path = join(config.stateDir, 'drill-client.json');
    await writeFile(
      path,
      `${JSON.stringify({ grace: { url: 'http://127.0.0.1', port: config.service.port.preferred } }, null, 2)}\n`,
    );
    return {
      ...config,
      service: { ...config.service, clientConfigs: [...config.service.clientConfigs, { path, key: 'grace.port' }] },
    };
  },
  async inject(env, run) {
    const service = need(env);
    const variant = variants[run % variants.length] ?? 'socket';
    const port = service.port ?? service.intendedPort();
    await service.stop();
    const holder = await occupy(variant, port, env);
    const injectedAt = Date.now();
    await service.startOn(port, { probe: variant !== 'exit-98' }).catch(() => undefined); // taken: the detector takes over
    return {
      resource: service.name,
      injectedAt,
      variant: `${variant} on ${port}`,
      cleanup: async () => {
        await holder.stop();
        if (!service.supervisor.running) await service.startOn(service.intendedPort()).catch(() => undefined);
      },
    };
  },
};

function need(env: DrillEnvironment): GuardedService {
  const service = env.runtime.service;
  if (!service) throw new Error('the drill config declares no service');
  return service;
}

async function occupy(variant: (typeof variants)[number], port: number, env: DrillEnvironment): Promise<Holder> {
  if (variant === 'stale-own-process') {
    const service = need(env);
    const leftover = new Supervisor(
      {
        ...service.supervisor.spec,
        name: service.name,
        outputFile: join(env.runtime.config.stateDir, 'logs', 'leftover.out'),
      },
      env.runtime.logger,
      { registry: env.runtime.registry },
    );
    // Its own home: the leftover must not write into the log Guardian's detectors read.
    const home = join(env.runtime.config.stateDir, 'leftover-grace');
    const identity = leftover.start({ PORT: String(port), GRACE_HOME: home, GRACE_LOG_STDOUT: 'false' }, { port });
    await waitUntilHeld(port, identity.pid);
    return { pid: identity.pid, stop: () => leftover.stop() };
  }
  const child =
    variant === 'http-server'
      ? spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], { stdio: 'ignore' })
      : spawn(
          'python3',
          ['-c', `import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',${port}))\ns.listen(1)\ntime.sleep(600)`],
          { stdio: 'ignore' },
        );
  await waitUntilHeld(port, child.pid ?? 0);
  return { pid: child.pid ?? 0, stop: () => stopChild(child) };
}

async function waitUntilHeld(port: number, pid: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (portHolders(port).some((h) => h.pid === pid)) return;
    await sleep(25);
  }
  throw new Error(`pid ${pid} did not take port ${port} within 10 s`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
