import { setTimeout as sleep } from 'node:timers/promises';
import { configureOutsideWorld, outsideWorld, teardownOutsideWorld } from './outside-world.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** The spec's slow endpoint sleeps 35 s; every call to it times out. */
const SLOW_MS = 35_000;
/** The primary recovers this long after the circuit opened, so the half-open trials close it. */
const RECOVERY_MS = 1500;

async function callThroughService(env: DrillEnvironment, endpoint: string, path: string): Promise<number> {
  const res = await fetch(
    `http://127.0.0.1:${env.runtime.service?.port ?? env.servicePort()}/api/external/${endpoint}?path=${encodeURIComponent(path)}`,
    {
      signal: AbortSignal.timeout(70_000),
    },
  );
  await res.arrayBuffer();
  return res.status;
}

/** Endpoints with a backup get the `backup` variant; the others are served stale from the cache. */
function endpointsOf(env: DrillEnvironment) {
  const endpoints = env.runtime.config.egress.endpoints;
  const withBackup = endpoints.find((e) => e.backup);
  const without = endpoints.find((e) => !e.backup);
  return [
    ...(withBackup ? [{ variant: 'backup', endpoint: withBackup }] : []),
    ...(without ? [{ variant: 'stale-cache', endpoint: without }] : []),
  ];
}

/**
 * The API-timeout drill: the spec's scenario. The remote endpoint starts sleeping 35 s; the demo
 * service calls it three times through the egress proxy, each call times out, and the circuit must
 * open (the measured time runs from the third failure). Then the endpoint recovers and the
 * half-open trial must close the circuit.
 */
export const apiTimeoutDrill: ModeDrill = {
  mode: 'api-timeout',
  targetMs: 15_000,
  configure: configureOutsideWorld,
  teardown: teardownOutsideWorld,
  async prepare(env) {
    // Good replies to serve stale later.
    for (const { endpoint } of endpointsOf(env)) await callThroughService(env, endpoint.name, '/quote');
  },
  async inject(env, run) {
    const choices = endpointsOf(env);
    const choice = choices[run % choices.length];
    if (!choice) throw new Error('the drill config has no egress endpoint');
    const { primary } = outsideWorld();
    primary.set({ delayMs: SLOW_MS });
    let thirdSentAt = 0;
    for (let i = 0; i < 3; i++) {
      thirdSentAt = Date.now();
      const status = await callThroughService(env, choice.endpoint.name, '/quote');
      if (status !== 504) throw new Error(`call ${i + 1} to ${choice.endpoint.name} answered ${status}, not a timeout`);
    }
    // The third failure happened when its timeout ran out (never later than its reply arrived).
    const injectedAt = Math.min(
      Date.now(),
      thirdSentAt + (env.runtime.egress?.route(choice.endpoint.name).timeoutMs ?? 0),
    );
    const recovered = sleep(RECOVERY_MS).then(() => primary.set({ delayMs: 0 }));
    return {
      resource: choice.endpoint.name,
      injectedAt,
      variant: choice.variant,
      cleanup: async () => {
        await recovered;
        primary.set({ delayMs: 0 });
      },
    };
  },
};
