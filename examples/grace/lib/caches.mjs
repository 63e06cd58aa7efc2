// In-memory caches: the memory Guardian frees with clear-caches and bounds with
// cache-size. The "ballast" holds what POST /debug/allocate asked for.
import { HttpError } from './errors.mjs';

/** Entries allowed per cache while low-memory mode is on, whatever cache-size says. */
export const LOW_MEMORY_ENTRIES = 16;

/** A small least-recently-used map that counts the bytes it holds. */
export class LruCache {
  /** @param {string} name @param {number} maxEntries */
  constructor(name, maxEntries) {
    this.name = name;
    this.maxEntries = maxEntries;
    this.bytes = 0;
    /** @type {Map<string, { value: unknown, bytes: number }>} */
    this.map = new Map();
  }

  get(key) {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    // Re-insert so Map order doubles as recency order.
    this.map.delete(key);
    this.map.set(key, hit);
    return hit.value;
  }

  set(key, value, bytes) {
    this.delete(key);
    if (this.maxEntries === 0) return;
    this.map.set(key, { value, bytes });
    this.bytes += bytes;
    this.trim(this.maxEntries);
  }

  delete(key) {
    const old = this.map.get(key);
    if (!old) return;
    this.bytes -= old.bytes;
    this.map.delete(key);
  }

  /** Evicts oldest entries down to `max`; returns the bytes freed. */
  trim(max) {
    const before = this.bytes;
    for (const key of this.map.keys()) {
      if (this.map.size <= max) break;
      this.delete(key);
    }
    return before - this.bytes;
  }

  clear() {
    const freed = this.bytes;
    this.map.clear();
    this.bytes = 0;
    return freed;
  }
}

/** @param {number} entries initial entries per cache (config limits.cacheEntries) */
export function createCaches(entries) {
  const caches = {
    ai: new LruCache('ai', entries),
    external: new LruCache('external', entries),
    world: new LruCache('world', entries),
  };
  /** @type {Buffer[]} */
  let ballast = [];
  let ballastBytes = 0;
  let configuredEntries = entries;
  let lowMemory = false;

  function applyLimit() {
    const limit = lowMemory ? Math.min(configuredEntries, LOW_MEMORY_ENTRIES) : configuredEntries;
    for (const c of Object.values(caches)) {
      c.maxEntries = limit;
      c.trim(limit);
    }
  }

  return {
    ...caches,
    totalBytes: () => caches.ai.bytes + caches.external.bytes + caches.world.bytes + ballastBytes,
    ballastBytes: () => ballastBytes,
    entries: () => configuredEntries,
    /** Sets entries per cache; returns the previous value. */
    setEntries(n) {
      const previous = configuredEntries;
      configuredEntries = n;
      applyLimit();
      return previous;
    },
    setLowMemory(enabled) {
      lowMemory = enabled;
      applyLimit();
    },
    /** @param {Buffer} buf */
    holdBallast(buf) {
      ballast.push(buf);
      ballastBytes += buf.length;
    },
    /** Drops what /debug/allocate holds, caches kept; returns the bytes freed. */
    releaseBallast() {
      const freed = ballastBytes;
      ballast = [];
      ballastBytes = 0;
      return freed;
    },
    /** Drops everything; returns the bytes freed. */
    clearAll() {
      const freed = caches.ai.clear() + caches.external.clear() + caches.world.clear() + ballastBytes;
      ballast = [];
      ballastBytes = 0;
      return freed;
    },
  };
}

/** @typedef {ReturnType<typeof createCaches>} Caches */

/** Calls allowed to wait for a slot; beyond this the caller gets 429 instead of a growing queue. */
const MAX_QUEUED = 256;

/**
 * Caps how many slow calls (model, outbound API) run at once; the rest wait in a queue.
 * @param {number} limit
 */
export function createLimiter(limit) {
  let current = limit;
  let active = 0;
  /** @type {(() => void)[]} */
  const waiting = [];

  function release() {
    active -= 1;
    while (active < current && waiting.length) {
      active += 1;
      waiting.shift()?.();
    }
  }

  return {
    limit: () => current,
    active: () => active,
    queued: () => waiting.length,
    /** Sets the limit; returns the previous one. Queued calls start if room opened. */
    setLimit(n) {
      const previous = current;
      current = n;
      while (active < current && waiting.length) {
        active += 1;
        waiting.shift()?.();
      }
      return previous;
    },
    /** @template T @param {() => Promise<T>} fn @returns {Promise<T>} */
    async run(fn) {
      if (active >= current && waiting.length >= MAX_QUEUED) throw new HttpError(429, 'too many requests waiting');
      if (active >= current) await new Promise((resolve) => waiting.push(() => resolve(undefined)));
      else active += 1;
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}

/** @typedef {ReturnType<typeof createLimiter>} Limiter */
