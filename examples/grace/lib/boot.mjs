// Runs the boot chunks in order and logs the boot.chunk progress protocol. Guardian
// can skip or defer a running chunk: the chunk's AbortSignal fires and boot moves on.
import { logChunk, runChunk } from './boot-chunk.mjs';

/** Budget reported with every chunk when the chunk sets none. */
export const DEFAULT_BUDGET_MS = 10_000;

/**
 * @typedef {import('./boot-chunk.mjs').ChunkSpec} ChunkSpec
 * @typedef {import('./boot-chunk.mjs').ChunkStateName} ChunkStateName
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
  /** @type {import('./boot-chunk.mjs').ChunkState[]} */
  const states = chunks.map((spec) => ({
    spec,
    budgetMs: spec.budgetMs ?? DEFAULT_BUDGET_MS,
    state: /** @type {ChunkStateName} */ ('pending'),
    background: false,
    startedAt: undefined,
    durationMs: undefined,
    error: undefined,
    controller: null,
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
    if (kind === 'defer' && s.background && s.state === 'running') return 'chunk already runs in the background';
    return '';
  }

  /** Boots every chunk; resolves with the boot.done fields or throws BootError. */
  async function run() {
    boot.startedAt = Date.now();
    /** @type {typeof states} */
    const later = [];
    for (const s of states) {
      if (skipList.has(s.spec.name)) {
        s.state = 'skipped';
        logChunk(logger, s, 'skipped', { reason: 'skip-list' });
      } else if (deferList.has(s.spec.name)) {
        s.state = 'deferred';
        later.push(s);
        logChunk(logger, s, 'deferred', { reason: 'defer-list' });
      } else {
        const phase = await runChunk(s, { background: false, logger, slowChunk });
        if (phase === 'failed' && s.spec.critical)
          throw new BootError(`critical boot chunk ${s.spec.name} failed: ${s.error}`);
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
    for (const s of later) {
      if (s.state !== 'deferred') continue;
      if (skipList.has(s.spec.name)) {
        // Skipped while it waited for its turn.
        s.state = 'skipped';
        logChunk(logger, s, 'skipped', { reason: 'skip-list', background: true });
      } else {
        await runChunk(s, { background: true, logger, slowChunk });
      }
    }
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
