import { spawn } from 'node:child_process';
import type { Client } from '@temporalio/client';
import type { FaultTraceEntry } from '../../lib/fault-hook.js';
import type { Mode } from '../../workflows/definitions.js';
import { type CaseEvidence, type ChaosCase, type ChaosFault, type ChaosRow, decoys, FAULTS, runCase } from './case.js';
import { ModeEnvironment } from './environment.js';

/** Activities that are bookkeeping around the steps, not a step's side effect. */
const BOOKKEEPING =
  /^(openIncident|recordIncident|recordHeal|sendAlert|deliverAlert|recordAlert|queueAlert|.*Ledger.*)$/;

/** Drill variants (run indices) whose steps differ enough to be cases of their own. */
const RUNS: Partial<Record<Mode, readonly number[]>> = {
  // `socket`: someone else holds the port (the service moves); `stale-own-process`: Guardian's own leftover is stopped.
  'port-in-use': [0, 2],
  // The OAuth refresh, the backup key, and no fallback at all (the endpoint is disabled until a person replaces the key).
  'invalid-credentials': [0, 1, 2],
  // A crash (SIGKILL), and a hang (SIGSTOP): the hung process is stopped first.
  'service-down': [0, 3],
  // A chunk that is skipped, and one that is deferred.
  'slow-boot': [0, 1],
};

/** A step of a mode as the baseline run showed it: the first and the last activity call in it. */
export interface DiscoveredStep {
  readonly run: number;
  readonly step: string;
  readonly first: { activity: string; nth: number };
  readonly last: { activity: string; nth: number };
  /** The steps the baseline incident completed before this one, in order. */
  readonly before: readonly string[];
}

/** Options of {@link runMatrix}. */
export interface MatrixOptions {
  readonly modes: readonly Mode[];
  readonly faults: readonly ChaosFault[];
  /** Each fault kind once per mode (at rotating steps) instead of at every step. */
  readonly quick: boolean;
  /** Modes run side by side. @default 1 */
  readonly lanes?: number;
  /** Where the quick rotation starts among the steps. @default 0 */
  readonly offset?: number;
  readonly configFile: string;
  readonly root: string;
  readonly onRow?: (row: ChaosRow) => void;
  readonly onProgress?: (line: string) => void;
}

/** The matrix result in the shape `npm run chaos -- --json` prints. */
export interface MatrixReport {
  cases: number;
  passed: number;
  failed: number;
  ms: number;
  rows: ChaosRow[];
}

/**
 * Runs the fault matrix: per mode, a baseline incident discovers the steps (from the fault hook's
 * trace and the incident's step list), then every step gets every fault, and the mode gets one
 * alert-down case. One Guardian serves a mode's cases until a crash case kills it.
 */
export async function runMatrix(client: Client, options: MatrixOptions): Promise<MatrixReport> {
  const started = Date.now();
  const rows: ChaosRow[] = [];
  const progress = options.onProgress ?? (() => undefined);
  const decoy = startDecoy();
  const record = (row: ChaosRow) => {
    rows.push(row);
    options.onRow?.(row);
  };
  // Modes run side by side in lanes, each on its own ports, state and task queue.
  const groups: Mode[][] = options.modes.map((mode) => [mode]);
  let creating = Promise.resolve();
  const runGroup = async (group: Mode[]) => {
    for (const mode of group) {
      // One at a time: each picks free ports for its service.
      const made = creating.then(() => ModeEnvironment.create(mode, options.root, options.configFile));
      creating = made.then(
        () => undefined,
        () => undefined,
      );
      await runMode(await made, client, options, record, progress);
    }
  };
  try {
    const queue = [...groups];
    const lanes = Array.from({ length: Math.max(1, options.lanes ?? 1) }, async () => {
      for (let group = queue.shift(); group; group = queue.shift()) await runGroup(group);
    });
    await Promise.all(lanes);
  } finally {
    // Ours to stop, and no longer one to check.
    const at = decoy.pid === undefined ? -1 : decoys.indexOf(decoy.pid);
    if (at >= 0) decoys.splice(at, 1);
    decoy.kill('SIGKILL');
  }
  const order = (r: ChaosRow) => options.modes.indexOf(r.mode);
  rows.sort((a, b) => order(a) - order(b));
  const passed = rows.filter((r) => r.pass).length;
  return { cases: rows.length, passed, failed: rows.length - passed, ms: Date.now() - started, rows };
}

/** One mode: baselines that discover its steps, then its cases; its Guardian is stopped at the end. */
async function runMode(
  env: ModeEnvironment,
  client: Client,
  options: MatrixOptions,
  record: (row: ChaosRow) => void,
  progress: (line: string) => void,
): Promise<void> {
  const mode = env.mode;
  try {
    // A run that was stopped halfway leaves its incidents running on this task queue: one would
    // absorb the baseline's finding, and be replayed by code it was not started with.
    await terminateLeftovers(client, env.base.taskQueue);
    const steps: DiscoveredStep[] = [];
    const resources = new Map<number, string>();
    for (const run of RUNS[mode] ?? [0]) {
      progress(`${mode}: baseline (run ${run})`);
      const baseline = await runCase(env, client, { mode, run, step: '(baseline)', fault: 'none' });
      if (!baseline.row.pass) record(baseline.row);
      if (baseline.resource) resources.set(run, baseline.resource);
      const found = discoverSteps(baseline, run);
      for (const step of found) if (!steps.some((s) => s.step === step.step)) steps.push(step);
      const reported = (baseline.incident?.result?.steps ?? []).map((s) => s.name);
      const unseen = reported.filter((name) => !found.some((s) => s.step === name));
      progress(
        `${mode}: run ${run} took ${reported.join(' → ') || 'no steps'}` +
          (unseen.length > 0 ? `; no activity call seen in ${unseen.join(', ')}` : ''),
      );
    }
    if (steps.length === 0) progress(`${mode}: the baseline showed no steps; only alert-down runs`);
    for (const c of casesFor(mode, steps, options)) {
      progress(`${mode}: ${c.fault} at ${c.step}`);
      const evidence = await runCase(env, client, c, resources.get(c.run));
      record(evidence.row);
    }
  } finally {
    await env.reset().catch(() => undefined);
  }
}

/** The cases of a mode: each step × each chosen fault (or, quick, each fault once at rotating steps). */
export function casesFor(
  mode: Mode,
  steps: readonly DiscoveredStep[],
  options: Pick<MatrixOptions, 'faults' | 'quick' | 'offset'>,
): ChaosCase[] {
  const cases: ChaosCase[] = [];
  const perStep = options.faults.filter((f) => f !== 'alert-down' && f !== 'cancel-during' && f !== 'none');
  const at = (step: DiscoveredStep, fault: ChaosFault): ChaosCase => {
    const which = fault === 'crash-after' || fault === 'step-fails' ? step.last : step.first;
    const done = fault === 'crash-after' ? [...step.before, step.step] : fault === 'crash-before' ? step.before : [];
    return { mode, run: step.run, step: step.step, fault, activity: which.activity, nth: which.nth, done };
  };
  if (options.quick) {
    perStep.forEach((fault, i) => {
      const step = steps[(i + (options.offset ?? 0)) % Math.max(1, steps.length)];
      if (step) cases.push(at(step, fault));
    });
  } else {
    for (const step of steps) for (const fault of perStep) cases.push(at(step, fault));
  }
  // UI-style Cancel at one step per mode: the middle one, where there is most to undo and still to do.
  const middle = steps[Math.floor(steps.length / 2)];
  if (options.faults.includes('cancel-during') && middle) cases.push(at(middle, 'cancel-during'));
  if (options.faults.includes('alert-down'))
    cases.push({ mode, run: steps[0]?.run ?? 0, step: '(alerts)', fault: 'alert-down' });
  return cases;
}

/**
 * The steps of the baseline incident, each with the activity calls it made: trace entries (first
 * attempts, bookkeeping left out) are matched in order to the steps the incident reported. A step
 * that runs a child workflow (a watch: `<incident>:<kind>:<run>`) gets the calls of the child's
 * first run, which happen between its start and the next step's; the next step's calls are then
 * matched past it.
 */
export function discoverSteps(baseline: CaseEvidence, run: number): DiscoveredStep[] {
  const incident = baseline.incident;
  const steps = incident?.result?.steps ?? [];
  if (!incident || steps.length === 0) return [];
  const { workflowId, runId } = incident.info;
  const firstAttempts = baseline.trace.filter((e: FaultTraceEntry) => e.attempt === 1 && !BOOKKEEPING.test(e.activity));
  const byStep = steps.map(() => [] as { activity: string; nth: number }[]);
  const fromChild = steps.map(() => false);
  for (const call of childCalls(firstAttempts, workflowId, runId)) {
    const at = steps.findLastIndex((s) => s.startedAt <= call.at);
    if (at < 0) continue;
    byStep[at]?.push(call);
    fromChild[at] = true;
  }
  const counts = new Map<string, number>();
  let k = 0;
  for (const call of firstAttempts.filter((e) => e.workflowId === workflowId && e.runId === runId)) {
    const nth = (counts.get(call.activity) ?? 0) + 1;
    counts.set(call.activity, nth);
    // Move on to the next step once this one has a call (or ran a child) and the next had started by this call.
    while (
      k + 1 < steps.length &&
      ((byStep[k]?.length ?? 0) > 0 || fromChild[k]) &&
      (steps[k + 1]?.startedAt ?? Infinity) <= call.at
    )
      k++;
    if (!fromChild[k]) byStep[k]?.push({ activity: call.activity, nth });
  }
  return steps.flatMap((s, i) => {
    const mine = byStep[i] ?? [];
    const first = mine[0];
    const last = mine[mine.length - 1];
    const before = steps.slice(0, i).map((b) => b.name);
    return first && last ? [{ run, step: s.name, first, last, before }] : [];
  });
}

/** The calls of each child workflow's first run started by the incident run `runId`, numbered per activity. */
function childCalls(
  calls: readonly FaultTraceEntry[],
  workflowId: string,
  runId: string,
): (FaultTraceEntry & { nth: number })[] {
  const firstRun = new Map<string, string>();
  const counts = new Map<string, number>();
  const out: (FaultTraceEntry & { nth: number })[] = [];
  for (const call of calls) {
    if (!call.workflowId.startsWith(`${workflowId}:`) || !call.workflowId.endsWith(`:${runId.slice(0, 8)}`)) continue;
    if ((firstRun.get(call.workflowId) ?? call.runId) !== call.runId) continue;
    firstRun.set(call.workflowId, call.runId);
    const key = `${call.runId}/${call.activity}`;
    const nth = (counts.get(key) ?? 0) + 1;
    counts.set(key, nth);
    out.push({ ...call, nth });
  }
  return out;
}

/** A process that looks like the demo service but that Guardian did not start: it must survive every case. */
function startDecoy() {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', 'examples/grace/server.mjs'], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  if (child.pid) decoys.push(child.pid);
  return child;
}

/** Every fault, for the CLI's default. */
export const ALL_FAULTS: readonly ChaosFault[] = FAULTS;

/** Terminates what an earlier, interrupted matrix left running on `taskQueue`. */
async function terminateLeftovers(client: Client, taskQueue: string): Promise<void> {
  for await (const wf of client.workflow.list({
    query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`,
  })) {
    await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('chaos: left running by an earlier, interrupted run')
      .catch(() => undefined);
  }
}
