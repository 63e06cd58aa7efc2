import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from './failures.js';

/**
 * The environment variable that arms the fault hook: the path of a JSON {@link FaultPlan}. It is
 * read from the process environment only (never from guardian.yaml), and only the fault-matrix
 * runner sets it. Unset, the hook returns the activities untouched.
 */
export const FAULT_FILE_ENV = 'GUARDIAN_FAULT_FILE';

/** What the hook does at its point. */
export type FaultKind = 'crash-before' | 'crash-after' | 'step-fails' | 'pause';

/**
 * One armed point: the `nth` call (first attempts only) of `activity` in the workflow
 * `workflowId` or in a child of it (a workflow whose ID starts with `<workflowId>:`, as the
 * incident's watch workflows do).
 */
export interface FaultPoint {
  readonly id: string;
  readonly activity: string;
  readonly workflowId: string;
  /** 1-based, counted per workflow run (a child's runs count on their own) over first attempts. @default 1 */
  readonly nth?: number;
  readonly fault: FaultKind;
  /** How long `pause` holds the activity before running it. @default 2000 */
  readonly pauseMs?: number;
}

/** The armed plan; the file is re-read on every call, so a runner can re-arm a running Guardian. */
export interface FaultPlan {
  readonly points: readonly FaultPoint[];
}

/** A line of the trace file (`<fault file>.trace`): one activity call while the hook is armed. */
export interface FaultTraceEntry {
  readonly at: number;
  readonly activity: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly attempt: number;
  readonly local: boolean;
  /** Which point fired here, and how. */
  readonly fired?: { id: string; fault: FaultKind };
}

type ActivityFn = (...args: never[]) => Promise<unknown>;

/**
 * Wraps every activity so the fault-matrix runner can crash Guardian (SIGKILL) right before or
 * after an activity's side effect, make it fail for good after it, or hold it while a rollback
 * arrives. Inert unless {@link FAULT_FILE_ENV} names a plan file: then every call is traced to
 * `<file>.trace`, and each point fires once (recorded, fsynced, in `<file>.fired` before it acts).
 */
export function withFaultHook<T extends Record<string, ActivityFn>>(
  activities: T,
  env: NodeJS.ProcessEnv = process.env,
): T {
  const file = env[FAULT_FILE_ENV];
  if (!file) return activities;
  const counts = new Map<string, number>();
  const wrapped: Record<string, ActivityFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const point = armedPoint(file, name, counts);
      if (!point) return fn(...args);
      return fire(file, point, () => fn(...args));
    };
  }
  return wrapped as T;
}

/** Traces this call and returns the point that fires on it, if one does. */
function armedPoint(file: string, activity: string, counts: Map<string, number>): FaultPoint | undefined {
  const info = Context.current().info;
  const workflowId = info.workflowExecution?.workflowId ?? '';
  const runId = info.workflowExecution?.runId ?? '';
  let nth = 0;
  if (info.attempt === 1) {
    const key = `${runId}/${activity}`;
    nth = (counts.get(key) ?? 0) + 1;
    counts.set(key, nth);
  }
  const entry: FaultTraceEntry = {
    at: Date.now(),
    activity,
    workflowId,
    runId,
    attempt: info.attempt,
    local: info.isLocal,
  };
  const fired = firedIds(file);
  const point = readPlan(file).points.find(
    (p) =>
      p.activity === activity &&
      (workflowId === p.workflowId || workflowId.startsWith(`${p.workflowId}:`)) &&
      (p.nth ?? 1) === nth &&
      !fired.has(p.id),
  );
  appendFileSync(
    `${file}.trace`,
    `${JSON.stringify(point ? { ...entry, fired: { id: point.id, fault: point.fault } } : entry)}\n`,
  );
  return point;
}

async function fire(file: string, point: FaultPoint, run: () => Promise<unknown>): Promise<unknown> {
  switch (point.fault) {
    case 'crash-before':
      markFired(file, point, 'before');
      return crash();
    case 'crash-after': {
      await run();
      markFired(file, point, 'after');
      return crash();
    }
    case 'step-fails':
      await run();
      markFired(file, point, 'failed');
      throw ApplicationFailure.nonRetryable(
        `injected fault: ${point.activity} failed for good after its side effect (fault point ${point.id})`,
        FailureType.InjectedFault,
      );
    case 'pause': {
      markFired(file, point, 'paused');
      const ctx = Context.current();
      const until = Date.now() + (point.pauseMs ?? 2000);
      // Held whatever happens meanwhile (a rollback, a cancellation): the side effect still follows.
      while (Date.now() < until) {
        if (!ctx.info.isLocal) ctx.heartbeat();
        await sleep(Math.min(100, Math.max(1, until - Date.now())));
      }
      const value = await run();
      markFired(file, point, 'resumed');
      return value;
    }
  }
}

function crash(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before this line runs; the throw only satisfies the type.
  throw new Error('SIGKILL did not end the process');
}

function readPlan(file: string): FaultPlan {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FaultPlan;
  } catch {
    return { points: [] };
  }
}

function firedIds(file: string): Set<string> {
  try {
    const lines = readFileSync(`${file}.fired`, 'utf8').split('\n').filter(Boolean);
    return new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id));
  } catch {
    return new Set();
  }
}

/** Appends and fsyncs the firing before the fault acts, so a crash cannot lose it. */
function markFired(file: string, point: FaultPoint, stage: string): void {
  const fd = openSync(`${file}.fired`, 'a');
  try {
    writeSync(fd, `${JSON.stringify({ id: point.id, stage, at: Date.now() })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
