// One boot chunk's run: the AbortSignal that skip-chunk / defer-chunk fire, the budget
// warning, and the boot.chunk lines Guardian's slow-boot detector reads.
import { setTimeout as delay } from 'node:timers/promises';

/**
 * @typedef {object} ChunkSpec
 * @property {string} name
 * @property {boolean} critical    boot fails without it; cannot be skipped or deferred
 * @property {boolean} deferrable  may run in the background after boot.done
 * @property {number} [budgetMs]
 * @property {(signal: AbortSignal) => Promise<void>} run
 *
 * @typedef {'pending' | 'running' | 'done' | 'skipped' | 'deferred' | 'failed'} ChunkStateName
 *
 * @typedef {object} ChunkState
 * @property {ChunkSpec} spec
 * @property {number} budgetMs
 * @property {ChunkStateName} state
 * @property {boolean} background
 * @property {number | undefined} startedAt
 * @property {number | undefined} durationMs
 * @property {string | undefined} error
 * @property {AbortController | null} controller
 */

/**
 * Writes one boot.chunk line (docs/contract.md, "Boot progress").
 * @param {import('./logger.mjs').Logger} logger @param {ChunkState} s @param {string} phase
 * @param {Record<string, unknown>} [extra]
 */
export function logChunk(logger, s, phase, extra = {}) {
  const { name, critical, deferrable } = s.spec;
  const fields = { chunk: name, phase, critical, deferrable, budgetMs: s.budgetMs, ...extra };
  // Only a critical failure is an error; a non-critical one leaves Grace running degraded.
  const level = phase === 'failed' && critical ? 'error' : phase === 'start' || phase === 'end' ? 'info' : 'warn';
  logger[level]('boot.chunk', `boot chunk ${name} ${phase}`, fields);
}

/**
 * Runs one chunk until it ends or is aborted; returns 'done' | 'failed' | the abort reason.
 * @param {ChunkState} s
 * @param {{ background: boolean, logger: import('./logger.mjs').Logger, slowChunk?: { chunk: string, ms: number } }} options
 */
export async function runChunk(s, { background, logger, slowChunk }) {
  const controller = new AbortController();
  Object.assign(s, { controller, state: 'running', background, startedAt: Date.now(), error: undefined });
  logChunk(logger, s, 'start', background ? { background } : {});
  // Only boot can be slow: a chunk rerun in the background after boot.done holds nobody up.
  const overBudget = background
    ? undefined
    : setTimeout(() => {
        logger.warn('boot.slow', `boot chunk ${s.spec.name} is over its budget`, {
          chunk: s.spec.name,
          budgetMs: s.budgetMs,
        });
      }, s.budgetMs);
  const aborted = new Promise((resolve) => controller.signal.addEventListener('abort', () => resolve('aborted')));
  let outcome;
  try {
    // GRACE_SLOW_CHUNK: the spec's slow-boot scenario, an abortable sleep before the real work.
    const slowMs = slowChunk && slowChunk.chunk === s.spec.name ? slowChunk.ms : 0;
    const work = (async () => {
      if (slowMs) await delay(slowMs, undefined, { signal: controller.signal });
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
  logChunk(logger, s, phase === 'done' ? 'end' : phase, extra);
  return phase;
}
