import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { FaultKind, FaultPoint, FaultTraceEntry } from '../../lib/fault-hook.js';
import { FINAL_OUTCOMES } from '../../workflows/incident-harness.js';
import { incidentWorkflowId, type Mode, rollbackSignal } from '../../workflows/definitions.js';
import type { Agent } from './agent-client.js';
import { alertsFor, alive, type CaseRun, inspectRun, missingFiles, runsSince, serviceUp } from './checks.js';
import type { ModeEnvironment } from './environment.js';
import type { InjectedFault } from './protocol.js';

/** The faults of the matrix; `none` is the baseline run that discovers a mode's steps. */
export const FAULTS = [
  'crash-before',
  'crash-after',
  'step-fails',
  'rollback-during',
  'cancel-during',
  'alert-down',
] as const;

/** One fault of the matrix, or the baseline. */
export type ChaosFault = (typeof FAULTS)[number] | 'none';

/** One case: a fault at a step (the activity call that is the step's side effect). */
export interface ChaosCase {
  readonly mode: Mode;
  /** The drill variant (run index) whose steps these are. */
  readonly run: number;
  readonly step: string;
  readonly fault: ChaosFault;
  readonly activity?: string;
  readonly nth?: number;
}

/** What each invariant concluded; null where it does not apply to the mode. */
export interface Invariants {
  final: boolean;
  noDataLost: boolean | null;
  noFileLost: boolean | null;
  serviceUp: boolean;
  noForeignKill: boolean;
}

/** One row of the matrix. */
export interface ChaosRow {
  readonly mode: Mode;
  readonly step: string;
  readonly fault: ChaosFault;
  readonly outcome: string;
  readonly invariants: Invariants;
  readonly pass: boolean;
  /** Why a check failed (empty when the case passed). */
  readonly detail: string;
  readonly ms: number;
}

/** What a case leaves for step discovery: the hook's trace and the incident's steps. */
export interface CaseEvidence {
  readonly row: ChaosRow;
  /** The hook's trace of the case (every activity call). */
  readonly trace: FaultTraceEntry[];
  readonly incident?: CaseRun;
  readonly resource?: string;
}

/** Outcomes each fault must end in (any final outcome when absent). */
const EXPECTED: Partial<Record<ChaosFault, readonly string[]>> = {
  none: ['healed'],
  'crash-before': ['healed'],
  'crash-after': ['healed'],
  'rollback-during': ['rolled-back'],
  'cancel-during': ['rolled-back'],
  'alert-down': ['healed'],
};

const HOOK_KIND: Record<ChaosFault, FaultKind | undefined> = {
  none: undefined,
  'alert-down': undefined,
  'crash-before': 'crash-before',
  'crash-after': 'crash-after',
  'step-fails': 'step-fails',
  'rollback-during': 'pause',
  'cancel-during': 'pause',
};

/** How long an incident has to reach its outcome and close, restarts included. */
const FINAL_BOUND_MS = 90_000;
/** How long the other runs a case started (watches) have to close after the incident did. */
const SETTLE_MS = 15_000;

/**
 * Runs one case: arms the hook, injects the mode's fault, acts on the fault (restart after a
 * crash, rollback or Cancel while the step is held), waits for the incident to close, then checks
 * every invariant before anything is cleaned up.
 */
export async function runCase(
  env: ModeEnvironment,
  client: Client,
  c: ChaosCase,
  knownResource?: string,
): Promise<CaseEvidence> {
  const started = Date.now();
  const problems: string[] = [];
  const kind = HOOK_KIND[c.fault];
  const host = env.config.host;
  let agent = await env.ensure({ alertsDown: c.fault === 'alert-down' });
  const pointId = `${c.mode}/${c.step}/${c.fault}/${started}`;
  const workflowId = knownResource ? incidentWorkflowId(c.mode, env.config.host, knownResource) : undefined;
  const point: FaultPoint | undefined =
    kind && c.activity && workflowId
      ? { id: pointId, activity: c.activity, workflowId, nth: c.nth ?? 1, fault: kind, pauseMs: 2500 }
      : undefined;
  env.arm({ points: point ? [point] : [] });
  // Runs that started before the injection belong to earlier cases.
  const since = Date.now() - 20;

  const injected = await agent.inject(c.run);
  let fault: InjectedFault | undefined;
  if ('error' in injected) {
    if (!agent.ended) problems.push(`injection failed: ${injected.error}`);
  } else fault = injected;
  const resource = fault?.resource ?? knownResource;
  const prefix = `${c.mode}:${host}:`;

  // Act on the fault while waiting for the incident's first run to close.
  let incident: CaseRun | undefined;
  let acted = false;
  let restarts = 0;
  const deadline = Date.now() + FINAL_BOUND_MS;
  while (Date.now() < deadline) {
    if (agent.ended) {
      if (restarts >= 3) {
        problems.push('Guardian kept dying after restarts');
        break;
      }
      restarts++;
      agent = await env.recover();
    }
    if (point && (c.fault === 'rollback-during' || c.fault === 'cancel-during') && !acted) {
      const paused = env.hookLines<{ id: string; stage: string }>('fired').some((f) => f.id === pointId);
      if (paused && workflowId) {
        acted = true;
        const handle = client.workflow.getHandle(workflowId);
        if (c.fault === 'rollback-during') await handle.signal(rollbackSignal, `chaos: rollback during ${c.step}`);
        else await handle.cancel();
      }
    }
    const first = (await runsSince(client, env.config.taskQueue, since)).find((r) => r.workflowId.startsWith(prefix));
    if (first) {
      const run = await inspectRun(client, first);
      if (run.closed) {
        incident = run;
        break;
      }
    }
    await sleep(250);
  }
  const fired = env.hookLines<{ id: string }>('fired').some((f) => f.id === pointId);
  if (point && !fired) problems.push(`the fault point (${c.activity} #${c.nth ?? 1}) was never reached`);

  const outcome = outcomeOf(incident);
  const finalOk = checkFinal(env, c, incident, outcome, problems);
  const settled = await settle(client, env.config.taskQueue, since, incident, problems);

  // Data, files, service, foreign processes: before any cleanup touches them.
  const kept = fault?.kept ?? {};
  const roots = [env.config.stateDir, ...(env.config.disk?.secondary ? [env.config.disk.secondary] : [])];
  let noDataLost: boolean | null = null;
  let noFileLost: boolean | null = null;
  if (Object.keys(kept).length > 0) {
    const missing = missingFiles(kept, roots, { manifestsCount: c.mode === 'disk-full' });
    if (missing.length > 0)
      problems.push(`lost: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (+${missing.length - 3})` : ''}`);
    if (c.mode === 'disk-full') noFileLost = missing.length === 0;
    else noDataLost = missing.length === 0;
  }
  const alerts = incident ? alertsFor(env.config, incident.info.workflowId, since) : [];
  const up = await checkServiceUp(agent, alerts, problems);
  const foreign = [...(fault?.foreignPids ?? []), ...decoys];
  const noForeignKill = alive(foreign);
  if (!noForeignKill) problems.push(`a process Guardian did not start was stopped (pids ${foreign.join(', ')})`);

  const trace = env.hookLines<FaultTraceEntry>('trace');
  await tidy(env, agent, client, resource, restarts > 0);
  const invariants: Invariants = { final: finalOk && settled, noDataLost, noFileLost, serviceUp: up, noForeignKill };
  const pass = Object.values(invariants).every((v) => v !== false) && problems.length === 0;
  const row: ChaosRow = {
    mode: c.mode,
    step: c.step,
    fault: c.fault,
    outcome,
    invariants,
    pass,
    detail: problems.join('; '),
    ms: Date.now() - started,
  };
  return { row, trace, ...(incident ? { incident } : {}), ...(resource ? { resource } : {}) };
}

/** Processes the runner started that no Guardian may ever signal. */
export const decoys: number[] = [];

function outcomeOf(incident: CaseRun | undefined): string {
  if (!incident) return 'timeout';
  const status = incident.info.status.name;
  if (status === 'CONTINUED_AS_NEW') return 'healed';
  if (status !== 'COMPLETED') return status.toLowerCase();
  return incident.result?.outcome ?? 'unknown';
}

function checkFinal(
  env: ModeEnvironment,
  c: ChaosCase,
  incident: CaseRun | undefined,
  outcome: string,
  problems: string[],
): boolean {
  if (!incident) {
    problems.push(`no incident closed within ${FINAL_BOUND_MS / 1000} s`);
    return false;
  }
  let ok = true;
  if (!(FINAL_OUTCOMES as readonly string[]).includes(outcome)) {
    problems.push(`workflow ended ${outcome}`);
    ok = false;
  }
  const expected = EXPECTED[c.fault];
  if (expected && !expected.includes(outcome)) {
    problems.push(
      `outcome ${outcome}, expected ${expected.join(' or ')}${incident.result ? ` (${incident.result.summary})` : ''}`,
    );
    ok = false;
  }
  if (
    outcome === 'failed' &&
    alertsFor(env.config, incident.info.workflowId, 0).every((a) => a.severity !== 'critical')
  ) {
    problems.push('failed without a critical alert');
    ok = false;
  }
  if (incident.workflowTaskFailures > 0) {
    problems.push(`${incident.workflowTaskFailures} workflow-task failure(s) in the history`);
    ok = false;
  }
  return ok;
}

/** Every run the case started before its incident closed must close too (watches included). */
async function settle(
  client: Client,
  taskQueue: string,
  since: number,
  incident: CaseRun | undefined,
  problems: string[],
): Promise<boolean> {
  const closedAt = incident?.info.closeTime?.getTime() ?? Date.now();
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const open: string[] = [];
    for (const info of await runsSince(client, taskQueue, since)) {
      if (info.startTime.getTime() > closedAt) continue; // a new detection after the incident: its own incident
      const run = await inspectRun(client, info);
      if (!run.closed) open.push(info.workflowId);
      else if (run.workflowTaskFailures > 0 && info.runId !== incident?.info.runId)
        problems.push(`${info.workflowId}: ${run.workflowTaskFailures} workflow-task failure(s)`);
    }
    if (open.length === 0) return true;
    if (Date.now() > deadline) {
      problems.push(`left running: ${open.join(', ')}`);
      return false;
    }
    await sleep(500);
  }
}

async function checkServiceUp(
  agent: Agent,
  alerts: Parameters<typeof serviceUp>[1],
  problems: string[],
): Promise<boolean> {
  let last: string | undefined;
  for (let i = 0; i < 20; i++) {
    const { health, error } = await agent.health();
    if (serviceUp(health, alerts)) return true;
    last = health
      ? `${health.status}${health.config?.error ? ` (${health.config.error})` : ''}`
      : (error ?? 'no answer');
    await sleep(250);
  }
  problems.push(`service not up: ${last}`);
  return false;
}

/** Undoes the injection, lifts holds, closes what is still open; after a crash the mode starts over. */
async function tidy(
  env: ModeEnvironment,
  agent: Agent,
  client: Client,
  resource: string | undefined,
  crashed: boolean,
): Promise<void> {
  env.arm({ points: [] });
  if (crashed || agent.ended) {
    await env.reset();
    return;
  }
  await agent.cleanup();
  if (resource) await agent.release(resource);
  for (const info of await runsSince(client, env.config.taskQueue, 0)) {
    if (info.status.name !== 'RUNNING') continue;
    await client.workflow
      .getHandle(info.workflowId, info.runId)
      .terminate('chaos: closing before the next case')
      .catch(() => undefined);
  }
  for (let i = 0; i < 40; i++) {
    const { health } = await agent.health();
    if (health?.status === 'ok') return;
    await sleep(250);
  }
  await env.reset();
}
