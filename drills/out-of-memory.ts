import { freemem } from 'node:os';
import type { GuardianConfig } from '../lib/config/load.js';
import type { ModeDrill } from './types.js';

/** RSS limit the drill sets: the demo idles near 70 MB, so a 160 MB allocation crosses it without straining the machine. */
export const DRILL_RSS_LIMIT = 160 * 1048576;

const MB = 1048576;
/** Allocated past a running Guardian's `memory.rss`, so the service is clearly over it. */
const MARGIN_MB = 32;
/** An attached drill holds at most this share of the memory free at the time in the demo. */
const FREE_SHARE = 0.5;
/** Past any budget the demo allows: refused with a MemoryError line. */
const OVER_BUDGET_MB = 65_536;

/** Ways to run the demo out of memory, each one real. */
const VARIANTS = ['rss-over-limit', 'memory-error'] as const;

/**
 * The memory drill: allocates in the demo service for real; variants cycle per run.
 * `rss-over-limit` holds filled buffers past the RSS limit; `memory-error` then asks for more
 * than the service's memory budget, refused with a MemoryError line in its log (the line opens
 * the incident once Guardian's measurement confirms it). An isolated Guardian gets a 160 MB limit
 * and the drill allocates 160 MB; on a running Guardian the drill allocates past its own
 * `memory.rss` (plus 32 MB), and refuses when that is more than half the memory free.
 */
export const outOfMemoryDrill: ModeDrill = {
  mode: 'out-of-memory',
  targetMs: 30_000,
  attachable: true,
  attachRefusal: (config) => {
    const needMb = Math.ceil(config.memory.rss / MB) + MARGIN_MB;
    if (needMb <= (freemem() / MB) * FREE_SHARE) return undefined;
    return (
      `the running Guardian's memory.rss (${Math.round(config.memory.rss / MB)} MB in ${config.file}) would have the ` +
      `drill hold ${needMb} MB in the demo, more than half the memory free now (${Math.round(freemem() / MB)} MB)`
    );
  },
  async configure(config: GuardianConfig) {
    // A threshold set low for the drill, never one that would exhaust the machine.
    return { ...config, memory: { ...config.memory, rss: Math.min(config.memory.rss, DRILL_RSS_LIMIT) } };
  },
  async inject(env, run) {
    const port = env.runtime.service?.port ?? env.servicePort();
    const name = env.runtime.config.service?.name;
    if (!port || !name) throw new Error('the out-of-memory drill needs the demo service');
    const variant = VARIANTS[run % VARIANTS.length] ?? 'rss-over-limit';
    const base = `http://127.0.0.1:${port}`;
    // On a running Guardian the service first grows to just under its limit (not yet a fault,
    // and slow at gigabytes), then crosses it: the fault is in place from that step on.
    const [underMb, overMb] = env.own ? [0, DRILL_RSS_LIMIT / MB] : await toRssLimit(base, env.runtime.config);
    if (underMb > 0) await allocate(base, underMb, 200);
    const injectedAt = Date.now();
    await allocate(base, overMb, 200);
    if (variant === 'memory-error') await allocate(base, OVER_BUDGET_MB, 507);
    return {
      resource: name,
      injectedAt,
      variant: env.own ? variant : `${variant} (${underMb + overMb} MB)`,
      // A run that did not heal must not leave the memory held for the next one.
      cleanup: async () => {
        await env.runtime.control?.call('clear-caches').catch(() => undefined);
        await env.runtime.control?.call('release-memory').catch(() => undefined);
        if (!env.own) await fetch(`${base}/debug/release`, { method: 'POST' }).catch(() => undefined);
      },
    };
  },
};

/**
 * What the service must hold more to stay `MARGIN_MB` under the config's RSS limit, then to be
 * `MARGIN_MB` past it, measured after what an earlier run held was released and collected.
 */
async function toRssLimit(base: string, config: GuardianConfig): Promise<[number, number]> {
  const released = await fetch(`${base}/debug/release`, { method: 'POST' });
  if (!released.ok) throw new Error(`the demo answered ${released.status} to POST /debug/release`);
  const { rssBytes } = (await released.json()) as { rssBytes: number };
  const memory = (await (await fetch(`${base}/debug/memory`)).json()) as { lowMemory?: boolean };
  if (memory.lowMemory)
    throw new Error(
      `${config.service?.name} is in low-memory mode, where it refuses large allocations; end it with ` +
        `\`guardian clear out-of-memory ${config.service?.name}\` (see guardian status) and drill again`,
    );
  const underMb = Math.max(0, Math.floor((config.memory.rss - rssBytes) / MB) - MARGIN_MB);
  return [underMb, Math.ceil((config.memory.rss - rssBytes) / MB) + MARGIN_MB - underMb];
}

async function allocate(base: string, mb: number, status: number): Promise<void> {
  const res = await fetch(`${base}/debug/allocate`, { method: 'POST', body: JSON.stringify({ mb }) });
  if (res.status !== status)
    throw new Error(
      `the demo answered ${res.status} to an allocation of ${mb} MB: ${await res.text()}` +
        (status === 200 && res.status === 507 ? ' (its memoryBudgetMb is below what the drill needs)' : ''),
    );
}
