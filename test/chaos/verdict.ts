import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { FINAL_OUTCOMES } from '../../workflows/incident-harness.js';
import type { Agent } from './agent-client.js';
import { alertsFor, type CaseRun, inspectRun, runsSince, serviceUp } from './checks.js';
import type { ModeEnvironment } from './environment.js';
import type { ChaosCase, ChaosFault } from './types.js';

/** Outcomes each fault must end in (any final outcome when absent). */
const EXPECTED: Partial<Record<ChaosFault, readonly string[]>> = {
  none: ['healed'],
  'crash-before': ['healed'],
  'crash-after': ['healed'],
  'rollback-during': ['rolled-back'],
  'cancel-during': ['rolled-back'],
  'alert-down': ['healed'],
};

/** How long an incident has to reach its outcome and close, restarts included. */
export const FINAL_BOUND_MS = 60_000;
/** How long the other runs a case started (watches) have to close after the incident did. */
const SETTLE_MS = 15_000;

/** The incident's outcome as the matrix reports it. */
export function outcomeOf(incident: CaseRun | undefined): string {
  if (!incident) return 'timeout';
  const status = incident.info.status.name;
  if (status === 'CONTINUED_AS_NEW') return 'healed';
  if (status !== 'COMPLETED') return status.toLowerCase();
  return incident.result?.outcome ?? 'unknown';
}

/** `final`: a final outcome (the one the fault calls for), alerted when failed, no workflow-task failure. */
export function checkFinal(
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
export async function settle(
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

/**
 * `serviceUp`, polled for up to 10 s: a restart in progress gets its chance, and so does the
 * incident a fault that outlived a failed one opens once it is reported again.
 */
export async function checkServiceUp(
  agent: Agent,
  alerts: Parameters<typeof serviceUp>[1],
  problems: string[],
): Promise<boolean> {
  let last: string | undefined;
  for (let i = 0; i < 40; i++) {
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

/**
 * After a crash, the incident that healed still shows every step the first run had done when
 * Guardian died: a replay that decided again from a fresh inspection and took a shorter path would
 * leave those steps, and their undos, out. Applies only when the fault fired and the incident healed.
 */
export function checkPathKept(
  c: ChaosCase,
  incident: CaseRun | undefined,
  fired: boolean,
  problems: string[],
): boolean {
  const steps = incident?.result?.steps;
  if (!fired || !steps || incident?.result?.outcome !== 'healed' || !c.done) return true;
  const shown = new Set(steps.map((s) => s.name));
  const lost = c.done.filter((name) => !shown.has(name));
  if (lost.length === 0) return true;
  problems.push(
    `the replay after the crash left out step(s) the first run had done: ${lost.join(', ')} (their undos are not on the stack)`,
  );
  return false;
}
