import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardianConfig } from '../lib/config/load.js';
import { acquirePidLock } from '../lib/pid-lock.js';
import { median, percentile } from '../lib/stats.js';
import { startGuardian } from '../workers/guardian.js';
import type { Mode } from '../workflows/definitions.js';
import { incidentWorkflowId } from '../workflows/definitions.js';
import { assertDrillPathsInside } from './path-guard.js';
import { runEachDrill } from './run-loop.js';
import type { DrillEnvironment, DrillOptions, DrillRun, ModeDrill } from './types.js';

export type { DrillOptions, DrillRun } from './types.js';

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

/** The spec's bound on the average total MTTR. */
export const AVERAGE_TARGET_MS = 20_000;

/**
 * Runs drills against a Guardian started in this process (isolated: host `<host>-drill`, see
 * drills/config.ts). Each run: inject, wait for the incident to reach an outcome in the ledger,
 * wait for its workflow to close, clean up. Cleanup always runs, and the Guardian (with its demo
 * service) is stopped at the end. drills/attached.ts acts on a Guardian running elsewhere instead.
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
  const env: DrillEnvironment = {
    runtime,
    own: runtime,
    servicePort: () => runtime.service?.port ?? config.service?.port.preferred,
  };
  try {
    await closeLeftovers(runtime, config.host);
    const runs = await runEachDrill(env, selected, options, {
      afterOutcome: (mode, resource) => waitForClose(runtime, incidentWorkflowId(mode, config.host, resource)),
    });
    return summarize(selected, runs);
  } finally {
    await runtime.stop();
  }
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

async function waitForClose(runtime: Awaited<ReturnType<typeof startGuardian>>, workflowId: string): Promise<void> {
  const handle = runtime.client.workflow.getHandle(workflowId);
  await Promise.race([handle.result().catch(() => undefined), sleep(30_000, undefined, { ref: false })]);
}
