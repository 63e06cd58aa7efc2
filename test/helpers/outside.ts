import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { startRemoteApi, type RemoteApi } from '../../examples/remote-api/remote-api.mjs';
import type { GuardianConfig } from '../../lib/config/load.js';
import type { GuardianConfigInput } from '../../lib/config/schema.js';
import { CredentialStore } from '../../lib/egress/credentials.js';
import { EgressProxy } from '../../lib/egress/proxy.js';
import { EgressStore } from '../../lib/egress/store.js';
import { freePortRange } from '../../lib/ports.js';
import { graceService } from './lifecycle.js';
import { type GuardianRuntime, startGuardian } from '../../workers/guardian.js';
import { testConfig } from './fixture.js';
import { workflowBundle } from './temporal.js';

const root = new URL('../../', import.meta.url).pathname;

/** Writes a secret to a 0600 file under `dir`; returns its path. */
export function writeSecret(dir: string, name: string, value: string): string {
  mkdirSync(join(dir, 'secrets'), { recursive: true });
  const path = join(dir, 'secrets', name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}

/** A standalone proxy on a config (no Temporal), for the proxy's own tests. */
export async function startProxy(
  config: GuardianConfig,
  logFile?: string,
): Promise<{ proxy: EgressProxy; store: EgressStore; stop(): Promise<void> }> {
  const store = new EgressStore(join(config.stateDir, 'egress.db'));
  const logger = logFile
    ? pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true }))
    : pino({ level: 'silent' });
  const proxy = new EgressProxy(
    config.egress,
    new CredentialStore(config.credentials, config.stateDir, store),
    store,
    logger,
  );
  await proxy.start();
  return {
    proxy,
    store,
    async stop() {
      await proxy.stop();
      store.close();
    },
  };
}

/** Starts a stand-in remote API on loopback (see examples/remote-api). */
export function remoteApi(options: Parameters<typeof startRemoteApi>[0] = {}): Promise<RemoteApi> {
  return startRemoteApi(options);
}

/** A Guardian with the demo service, egress proxy and detectors, logging to `logFile`. */
export async function startGuardedDemo(
  dir: string,
  overrides: Partial<GuardianConfigInput>,
  logFile: string,
): Promise<{ runtime: GuardianRuntime; config: GuardianConfig; servicePort: number }> {
  const port = await freePortRange(3, 19300 + Math.floor(Math.random() * 500));
  const home = join(dir, 'grace');
  const config = testConfig(dir, {
    service: {
      ...graceService(home, port, 3),
      stopTimeout: '5s',
    },
    incidents: { rollbackWindow: '500ms', flap: { limit: 100, window: '10m' } },
    ...overrides,
  });
  return { runtime: await restartGuardian(config, logFile), config, servicePort: port };
}

/** Starts Guardian on an existing config (again, after a stop), waiting for the service to be healthy. */
export async function restartGuardian(config: GuardianConfig, logFile: string): Promise<GuardianRuntime> {
  const logger = pino(
    { name: 'guardian', level: 'debug' },
    pino.destination({ dest: logFile, sync: true, append: true }),
  );
  const runtime = await startGuardian({
    config,
    logger,
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
  for (let i = 0; i < 150; i++) {
    const health = await runtime.control?.health().catch(() => undefined);
    if (health?.status === 'ok') break;
    await sleep(100);
  }
  return runtime;
}

/** Calls the demo service's outbound route: `GET|POST /api/external/<endpoint>?path=<path>`. */
export async function callThroughService(
  port: number,
  endpoint: string,
  path: string,
  post?: Record<string, unknown>,
): Promise<{ status: number; stale: string | null; queued: string | null; body: Record<string, unknown>; ms: number }> {
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/external/${endpoint}?path=${encodeURIComponent(path)}`, {
    ...(post ? { method: 'POST', body: JSON.stringify(post), headers: { 'content-type': 'application/json' } } : {}),
    signal: AbortSignal.timeout(70_000),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return {
    status: res.status,
    stale: res.headers.get('x-guardian-stale'),
    queued: res.headers.get('x-guardian-queued'),
    body,
    ms: Date.now() - started,
  };
}

/** Polls until `check` returns a value (not undefined/false) or the timeout passes. */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  stepMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}
