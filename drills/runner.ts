import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardianConfig } from '../lib/config/load.js';
import type { IncidentRecord } from '../lib/ledger.js';
import type { Logger } from '../lib/logger.js';
import { acquirePidLock } from '../lib/pid-lock.js';
import { median, percentile } from '../lib/stats.js';
import { startGuardian } from '../workers/guardian.js';
import type { Mode } from '../workflows/definitions.js';
import { incidentWorkflowId } from '../workflows/definitions.js';
import { assertDrillPathsInside } from './path-guard.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** One injected run, measured. */
export interface DrillRun {
  mode: Mode;
  run: number;
  variant: string;
  resource: string;
  outcome: string;
  injectedAt: number;
  detectedAt?: number;
  healedAt?: number;
  detectMs?: number;
  totalMs?: number;
  workflowId?: string;
  error?: string;
}

/** A mode's figures, in the shape every drill report uses. */
export interface ModeSummary {
  mode: Mode;
  targetMs: number;
  runs: number;
  healed: number;
  detectP50Ms: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  pass: boolean;
}

/** The whole drill report. */
export interface DrillReport {
  modes: ModeSummary[];
  averageP50Ms: number | null;
  pass: boolean;
  runs: DrillRun[];
}

/** How to run drills. */
export interface DrillOptions {
  repeat: number;
  onProgress?: (line: string) => void;
  runTimeoutMs?: number;
  /** Stops the drill early (Ctrl-C): the current fault is cleaned up and everything stopped. */
  signal?: AbortSignal;
  /** The drill's Guardian logs here (default: stderr, readable on a terminal). */
  logger?: Logger;
}

/** The spec's bound on the average total MTTR. */
export const AVERAGE_TARGET_MS = 20_000;

/**
 * Runs drills against a Guardian started in this process. Each run: inject, wait for the
 * incident to reach an outcome in the ledger, wait for its workflow to close, clean up.
 * Cleanup always runs, and the Guardian (with its demo service) is stopped at the end.
 */
export async function runDrills(
  config: GuardianConfig,
  selected: readonly ModeDrill[],
  options: DrillOptions,
): Promise<DrillReport> {
  // Drills damage for real: only what lies in the drill's own state directory.
  assertDrillPathsInside(config);
  const configured: ModeDrill[] = [];
  // One drill at a time per state directory: two would share a task queue and a demo home.
  const release = acquirePidLock(join(config.stateDir, 'drill.lock'));
  try {
    for (const drill of selected) {
      configured.push(drill);
      if (drill.configure) config = await drill.configure(config);
    }
    assertDrillPathsInside(config);
    return await runConfigured(config, selected, options);
  } finally {
    for (const drill of configured.reverse()) await drill.teardown?.().catch(() => undefined);
    release();
  }
}

async function runConfigured(
  config: GuardianConfig,
  selected: readonly ModeDrill[],
  options: DrillOptions,
): Promise<DrillReport> {
  const runtime = await startGuardian({ config, ...(options.logger ? { logger: options.logger } : {}) });
  // The service can move (port-in-use): its port is the one it has now, not the configured preference.
  const env: DrillEnvironment = { runtime, servicePort: () => runtime.service?.port ?? config.service?.port.preferred };
  const runs: DrillRun[] = [];
  const progress = options.onProgress ?? (() => undefined);
  try {
    await closeLeftovers(runtime, config.host);
    await waitForService(env, 20_000);
    for (const drill of selected) {
      await drill.prepare?.(env);
      for (let run = 0; run < options.repeat; run++) {
        options.signal?.throwIfAborted();
        progress(`${drill.mode}: run ${run + 1}/${options.repeat} injecting…`);
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
            runtime.ledger,
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
          await waitForClose(runtime, incidentWorkflowId(drill.mode, config.host, injection.resource));
        } catch (err) {
          if (options.signal?.aborted) throw err;
          measured.error = (err as Error).message;
        } finally {
          await injection.cleanup();
        }
        runs.push(measured);
        progress(
          `${drill.mode}: run ${run + 1}/${options.repeat} ${injection.variant}: ${measured.outcome}` +
            (measured.totalMs === undefined
              ? ''
              : ` in ${measured.totalMs} ms (detected after ${measured.detectMs} ms)`),
        );
        await waitForService(env, 20_000).catch(() => undefined);
      }
    }
  } finally {
    await runtime.stop();
  }
  return summarize(selected, runs);
}

/** Terminates incidents an interrupted earlier drill left open on this drill's own host. */
async function closeLeftovers(runtime: Awaited<ReturnType<typeof startGuardian>>, host: string): Promise<void> {
  const query = `GuardianHost = "${host}" AND ExecutionStatus = "Running"`;
  for await (const wf of runtime.client.workflow.list({ query })) {
    await runtime.client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('left open by an earlier, interrupted drill')
      .catch(() => undefined);
  }
}

/** Builds the per-mode figures and the verdict from measured runs. */
export function summarize(selected: readonly ModeDrill[], runs: DrillRun[]): DrillReport {
  const modes = selected.map((drill): ModeSummary => {
    const mine = runs.filter((r) => r.mode === drill.mode);
    const healed = mine.filter((r) => r.outcome === 'healed' && r.totalMs !== undefined);
    const totals = healed.map((r) => r.totalMs ?? 0);
    const detects = mine.filter((r) => r.detectMs !== undefined).map((r) => r.detectMs ?? 0);
    const maxMs = totals.length > 0 ? Math.max(...totals) : null;
    return {
      mode: drill.mode,
      targetMs: drill.targetMs,
      runs: mine.length,
      healed: healed.length,
      detectP50Ms: median(detects) ?? null,
      p50Ms: median(totals) ?? null,
      p95Ms: percentile(totals, 95) ?? null,
      maxMs,
      pass: mine.length > 0 && healed.length === mine.length && maxMs !== null && maxMs < drill.targetMs,
    };
  });
  const p50s = modes.map((m) => m.p50Ms).filter((v): v is number => v !== null);
  const averageP50Ms =
    p50s.length === modes.length && p50s.length > 0 ? p50s.reduce((a, b) => a + b, 0) / p50s.length : null;
  return {
    modes,
    averageP50Ms,
    pass: modes.every((m) => m.pass) && averageP50Ms !== null && averageP50Ms < AVERAGE_TARGET_MS,
    runs,
  };
}

async function waitForOutcome(
  ledger: GuardianRuntimeLedger,
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

type GuardianRuntimeLedger = Awaited<ReturnType<typeof startGuardian>>['ledger'];

async function waitForClose(runtime: Awaited<ReturnType<typeof startGuardian>>, workflowId: string): Promise<void> {
  const handle = runtime.client.workflow.getHandle(workflowId);
  await Promise.race([handle.result().catch(() => undefined), sleep(30_000, undefined, { ref: false })]);
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
