import type { ModeDrill } from './types.js';

/** RSS limit the drill sets: the demo idles near 70 MB, so a 160 MB allocation crosses it without straining the machine. */
export const DRILL_RSS_LIMIT = 160 * 1048576;

/** Ways to run the demo out of memory, each one real. */
const variants = {
  /** The service really allocates 160 MB (filled buffers, so RSS grows) past a 160 MB limit. */
  'rss-over-limit': { mb: 160, status: 200 },
  /**
   * Memory past the limit, then an allocation over the service's memory budget, refused with a
   * MemoryError line in its log: the line opens the incident once Guardian's measurement confirms it.
   */
  'memory-error': { mb: 160, status: 200, then: { mb: 5000, status: 507 } },
} as const;

/** The memory drill: allocates in the demo service for real; variants cycle per run. */
export const outOfMemoryDrill: ModeDrill = {
  mode: 'out-of-memory',
  targetMs: 30_000,
  async configure(config) {
    // A threshold set low for the drill, never one that would exhaust the machine.
    return { ...config, memory: { ...config.memory, rss: Math.min(config.memory.rss, DRILL_RSS_LIMIT) } };
  },
  async inject(env, run) {
    const port = env.runtime.service?.port ?? env.servicePort();
    const name = env.runtime.config.service?.name;
    if (!port || !name) throw new Error('the out-of-memory drill needs the demo service');
    const names = Object.keys(variants) as (keyof typeof variants)[];
    const variant = names[run % names.length] ?? 'rss-over-limit';
    const chosen = variants[variant];
    const injectedAt = Date.now();
    for (const { mb, status } of 'then' in chosen ? [chosen, chosen.then] : [chosen]) {
      const res = await fetch(`http://127.0.0.1:${port}/debug/allocate`, {
        method: 'POST',
        body: JSON.stringify({ mb }),
      });
      if (res.status !== status)
        throw new Error(`the demo answered ${res.status} to an allocation of ${mb} MB: ${await res.text()}`);
    }
    return {
      resource: name,
      injectedAt,
      variant,
      // A run that did not heal must not leave the memory held for the next one.
      cleanup: async () => {
        await env.runtime.control?.call('clear-caches').catch(() => undefined);
        await env.runtime.control?.call('release-memory').catch(() => undefined);
      },
    };
  },
};
