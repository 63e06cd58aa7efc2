// Runs the boot chunks in order and logs the boot.chunk progress protocol. Guardian
// can skip or defer a running chunk: the chunk's AbortSignal fires and boot moves on.
import { setTimeout as delay } from 'node:timers/promises';

/** Budget reported with every chunk when the chunk sets none. */
export const DEFAULT_BUDGET_MS = 10_000;

/**
 * @typedef {object} ChunkSpec
 * @property {string} name
 * @property {boolean} critical    boot fails without it; cannot be skipped or deferred
 * @property {boolean} deferrable  may run in the background after boot.done
 * @property {number} [budgetMs]
 * @property {(signal: AbortSignal) => Promise<void>} run
 *
 * @typedef {'pending' | 'running' | 'done' | 'skipped' | 'deferred' | 'failed'} ChunkStateName
 */

/** Thrown when a critical chunk fails; the service exits. */
export class BootError extends Error {}

/**
 * @param {{ chunks: ChunkSpec[], logger: import('./logger.mjs').Logger, skip: string[], defer: string[],
 *   slowChunk?: { chunk: string, ms: number } }} options
 */
export function createBoot({ chunks, logger, skip, defer, slowChunk }) {
  const skipList = new Set();
  const deferList = new Set();
  const states = chunks.map((spec) => ({
    spec,
    budgetMs: spec.budgetMs ?? DEFAULT_BUDGET_MS,
    state: /** @type {ChunkStateName} */ ('pending'),
    background: false,
    /** @type {number | undefined} */ startedAt: undefined,
    /** @type {number | undefined} */ durationMs: undefined,
    /** @type {string | undefined} */ error: undefined,
    /** @type {AbortController | null} */ controller: null,
  }));
  const boot = { startedAt: 0, durationMs: /** @type {number | null} */ (null), done: false };

  // Lists from the environment: refuse what the contract forbids, loudly, and carry on.
  for (const name of skip) applyListEntry(name, 'skip');
  for (const name of defer) applyListEntry(name, 'defer');

  function find(name) {
    return states.find((s) => s.spec.name === name);
  }

  function applyListEntry(name, kind) {
    const s = find(name);
    const refusal = !s ? 'unknown chunk' : refuse(s, kind);
    if (refusal) return logger.warn('boot.override_ignored', `${kind} ${name}: ${refusal}`, { chunk: name, kind });
    (kind === 'skip' ? skipList : deferList).add(name);
  }

  function refuse(s, kind) {
    if (s.spec.critical) return 'chunk is critical';
    if (kind === 'defer' && !s.spec.deferrable) return 'chunk is not deferrable';
    return '';
  }

  function logChunk(s, phase, extra = {}) {
    const { name, critical, deferrable } = s.spec;
    const fields = { chunk: name, phase, critical, deferrable, budgetMs: s.budgetMs, ...extra };
    // Only a critical failure is an error; a non-critical one leaves Grace running degraded.
    const level = phase === 'failed' && critical ? 'error' : phase === 'start' || phase === 'end' ? 'info' : 'warn';
    logger[level]('boot.chunk', `boot chunk ${name} ${phase}`, fields);
  }

  /** Runs one chunk until it ends or is aborted; returns 'done' | 'failed' | the abort reason. */
  async function runChunk(s, background) {
    const controller = new AbortController();
    Object.assign(s, { controller, state: 'running', background, startedAt: Date.now(), error: undefined });
    logChunk(s, 'start', background ? { background } : {});
    const overBudget = setTimeout(() => {
      logger.warn('boot.slow', `boot chunk ${s.spec.name} is over its budget`, { chunk: s.spec.name, budgetMs: s.budgetMs });
    }, s.budgetMs);
    const aborted = new Promise((resolve) => controller.signal.addEventListener('abort', () => resolve('aborted')));
    let outcome;
    try {
      const work = (async () => {
        if (slowChunk?.chunk === s.spec.name && !background) await delay(slowChunk.ms, undefined, { signal: controller.signal });
        await s.spec.run(controller.signal);
        return 'done';
      })();
      // A chunk that ignores its signal must not hold boot: whichever settles first wins.
      outcome = await Promise.race([work, aborted]);
      work.catch(() => {});
    } catch (err) {
      outcome = controller.signal.aborted ? 'aborted' : 'failed';
      if (outcome === 'failed') s.error = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(overBudget);
    }
    s.durationMs = Date.now() - /** @type {number} */ (s.startedAt);
    s.controller = null;
    // The abort reason says what Guardian asked for: 'skipped' or 'deferred'.
    const phase = outcome === 'aborted' ? String(controller.signal.reason) : outcome;
    s.state = /** @type {ChunkStateName} */ (phase);
    /** @type {Record<string, unknown>} */
    const extra = { durationMs: s.durationMs };
    if (background) extra.background = true;
    if (phase === 'failed') extra.error = s.error;
    if (outcome === 'aborted') extra.reason = 'control';
    logChunk(s, phase === 'done' ? 'end' : phase, extra);
    return phase;
  }

  /** Boots every chunk; resolves with the boot.done fields or throws BootError. */
  async function run() {
    boot.startedAt = Date.now();
    /** @type {typeof states} */
    const later = [];
    for (const s of states) {
      if (skipList.has(s.spec.name)) {
        s.state = 'skipped';
        logChunk(s, 'skipped', { reason: 'skip-list' });
      } else if (deferList.has(s.spec.name)) {
        s.state = 'deferred';
        later.push(s);
        logChunk(s, 'deferred', { reason: 'defer-list' });
      } else {
        const phase = await runChunk(s, false);
        if (phase === 'failed' && s.spec.critical) throw new BootError(`critical boot chunk ${s.spec.name} failed: ${s.error}`);
        if (phase === 'deferred') later.push(s);
      }
    }
    boot.durationMs = Date.now() - boot.startedAt;
    boot.done = true;
    const summary = { durationMs: boot.durationMs, degraded: degraded(), deferred: later.map((s) => s.spec.name) };
    logger.info('boot.done', `boot finished in ${boot.durationMs} ms`, summary);
    void runDeferred(later);
    return summary;
  }

  /** Reruns deferred chunks one at a time, after boot, so they never compete with it. */
  async function runDeferred(later) {
    for (const s of later) if (s.state === 'deferred' && !skipList.has(s.spec.name)) await runChunk(s, true);
  }

  function degraded() {
    return states.filter((s) => s.state === 'skipped' || s.state === 'failed').map((s) => s.spec.name);
  }

  /**
   * skip-chunk / defer-chunk: abort it if running, else remember it for when it is reached.
   * @returns {{ status: number, body: Record<string, unknown> }}
   */
  function override(name, kind) {
    const s = find(name);
    if (!s) return { status: 404, body: { ok: false, error: `unknown boot chunk "${name}"` } };
    const refusal = refuse(s, kind);
    if (refusal) return { status: 409, body: { ok: false, error: `cannot ${kind} ${name}: ${refusal}` } };
    (kind === 'skip' ? skipList : deferList).add(name);
    const was = s.state;
    if (was === 'running') s.controller?.abort(kind === 'skip' ? 'skipped' : 'deferred');
    const effect = was === 'running' ? 'aborted' : was === 'pending' ? `will-${kind}` : 'next-boot';
    return { status: 200, body: { ok: true, chunk: name, state: was, effect } };
  }

  return {
    run,
    skip: (name) => override(name, 'skip'),
    defer: (name) => override(name, 'defer'),
    /** enable-chunk: forget skip/defer for this chunk (takes effect next boot). */
    enable(name) {
      if (!find(name)) return { status: 404, body: { ok: false, error: `unknown boot chunk "${name}"` } };
      const body = { ok: true, chunk: name, wasSkipped: skipList.delete(name), wasDeferred: deferList.delete(name) };
      return { status: 200, body };
    },
    degraded,
    deferred: () => states.filter((s) => s.state === 'deferred').map((s) => s.spec.name),
    /** The body of GET /guardian/boot. */
    snapshot() {
      return {
        status: boot.done ? 'done' : 'booting',
        startedAt: boot.startedAt,
        durationMs: boot.durationMs,
        skipList: [...skipList],
        deferList: [...deferList],
        chunks: states.map((s) => ({
          name: s.spec.name,
          critical: s.spec.critical,
          deferrable: s.spec.deferrable,
          budgetMs: s.budgetMs,
          state: s.state,
          background: s.background,
          ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
          ...(s.error ? { error: s.error } : {}),
        })),
      };
    },
  };
}
