import { setTimeout as sleep } from 'node:timers/promises';
import type { IncidentRecord, Ledger } from '../lib/ledger.js';
import type { Mode } from '../lib/modes.js';
import type { DrillEnvironment, DrillOptions, DrillRun, ModeDrill } from './types.js';

/** What differs between the Guardians a drill acts on, for {@link runEachDrill}. */
export interface RunLoopHooks {
  /** Waits for the incident's workflow to close before the next run (isolated: its rollback window is short). */
  afterOutcome?(mode: Mode, resource: string): Promise<void>;
}

/**
 * Runs each drill `options.repeat` times on `env`: inject, wait for the incident to reach an
 * outcome in the Guardian's ledger, then clean up (always, whatever happened).
 */
export async function runEachDrill(
  env: DrillEnvironment,
  selected: readonly ModeDrill[],
  options: DrillOptions,
  hooks: RunLoopHooks = {},
): Promise<DrillRun[]> {
  const runs: DrillRun[] = [];
  const progress = options.onProgress ?? (() => undefined);
  await waitForService(env, 20_000);
  for (const drill of selected) {
    await drill.prepare?.(env);
    for (let run = 0; run < options.repeat; run++) {
      options.signal?.throwIfAborted();
      progress(`${drill.mode}: run ${run + 1}/${options.repeat} injecting…`);
      const measured = await measureOne(env, drill, run, options, hooks);
      runs.push(measured);
      progress(
        `${drill.mode}: run ${run + 1}/${options.repeat} ${measured.variant}: ${measured.outcome}` +
          (measured.totalMs === undefined ? '' : ` in ${measured.totalMs} ms (detected after ${measured.detectMs} ms)`),
      );
      await waitForService(env, 20_000).catch(() => undefined);
    }
  }
  return runs;
}

async function measureOne(
  env: DrillEnvironment,
  drill: ModeDrill,
  run: number,
  options: DrillOptions,
  hooks: RunLoopHooks,
): Promise<DrillRun> {
  const injection = await drill.inject(env, run);
  const measured: DrillRun = {
    mode: drill.mode,
    run,
    variant: injection.variant,
    resource: injection.resource,
    outcome: 'timeout',
    injectedAt: injection.injectedAt,
  };
  try {
    const record = await waitForOutcome(
      env.runtime.ledger,
      drill.mode,
      injection.resource,
      injection.injectedAt,
      options.runTimeoutMs ?? Math.max(30_000, drill.targetMs * 2),
      options.signal,
    );
    measured.outcome = record.outcome;
    measured.workflowId = record.workflowId;
    measured.detectedAt = record.detectedAt;
    measured.detectMs = Math.max(0, record.detectedAt - injection.injectedAt);
    if (record.healedAt !== null) {
      measured.healedAt = record.healedAt;
      measured.totalMs = Math.max(0, record.healedAt - injection.injectedAt);
    }
    await hooks.afterOutcome?.(drill.mode, injection.resource);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    measured.error = (err as Error).message;
  } finally {
    await injection.cleanup();
  }
  return measured;
}

async function waitForOutcome(
  ledger: Ledger,
  mode: Mode,
  resource: string,
  since: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<IncidentRecord> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    const found = ledger
      .incidents({ mode, limit: 20 })
      .find((r) => r.resource === resource && r.detectedAt >= since - 50 && r.outcome !== 'healing');
    if (found) return found;
    await sleep(25);
  }
  throw new Error(`no outcome for ${mode} on ${resource} within ${timeoutMs} ms`);
}

async function waitForService(env: DrillEnvironment, timeoutMs: number): Promise<void> {
  const control = env.runtime.control;
  if (!control) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const health = await control.health(1000);
      if (health.status === 'ok') return;
    } catch {
      // Not up yet.
    }
    await sleep(100);
  }
  throw new Error(`the demo service did not report healthy within ${timeoutMs} ms`);
}
