import { setTimeout as sleep } from 'node:timers/promises';
import { configureOutsideWorld, outsideWorld, teardownOutsideWorld } from './outside-world.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** How long each outage lasts: long enough to be detected and enter offline mode, then the network returns. */
const OUTAGE_MS = 3000;

/** Ways the outside goes away, each seen by the probes for real. */
export const outages = {
  /** The remote host is gone: DNS and TCP refuse at once. */
  async 'connection-refused'() {
    await outsideWorld().primary.stop();
    return async () => outsideWorld().primary.start();
  },
  /** The resolver stops answering (DNS probes time out) and the remote host refuses connections. */
  async 'dns-silent'() {
    const { primary } = outsideWorld();
    primary.set({ dnsSilent: true });
    await primary.stop({ keepDns: true });
    return async () => {
      primary.set({ dnsSilent: false });
      await primary.start();
    };
  },
} as const;

async function queueWrite(env: DrillEnvironment, n: number): Promise<number> {
  const port = env.runtime.service?.port ?? env.servicePort();
  const res = await fetch(`http://127.0.0.1:${port}/api/external/quotes?path=/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ n }),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * The network drill: the outside world goes away for real (the stand-in's DNS and API stop
 * answering), Guardian must enter offline mode; a write made while offline is queued, and after
 * the outage the network returns and the write must arrive once. Variants cycle per run.
 */
export const networkUnreachableDrill: ModeDrill = {
  mode: 'network-unreachable',
  targetMs: 5000,
  configure: configureOutsideWorld,
  teardown: teardownOutsideWorld,
  async inject(env, run) {
    const names = Object.keys(outages) as (keyof typeof outages)[];
    const variant = names[run % names.length] ?? 'connection-refused';
    const restore = await outages[variant]();
    const injectedAt = Date.now();
    const back = (async () => {
      // While offline, the service makes a write; it must be queued and sent once the network is back.
      for (let i = 0; i < 40 && !env.runtime.egress?.offline; i++) await sleep(50);
      if (env.runtime.egress?.offline) await queueWrite(env, run).catch(() => undefined);
      await sleep(Math.max(0, injectedAt + OUTAGE_MS - Date.now()));
      await restore();
    })();
    void back.catch(() => undefined);
    return {
      resource: 'network',
      injectedAt,
      variant,
      cleanup: async () => {
        await back.catch(() => undefined);
        if (!outsideWorld().primary.listening) await outsideWorld().primary.start();
        outsideWorld().primary.set({ dnsSilent: false });
      },
    };
  },
};
