import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { FaultKind, FaultPoint, FaultTraceEntry } from '../../lib/fault-hook.js';
import { clearInput, clearOnGuardian } from '../../cli/commands/clear.js';
import type { GuardianConfig } from '../../lib/config/load.js';
import type { ClearInput } from '../../workflows/clear-override.js';
import { incidentWorkflowId, type Mode, rollbackSignal } from '../../workflows/definitions.js';
import type { Agent } from './agent-client.js';
import { alertsFor, alive, type CaseRun, inspectRun, missingFiles, runsSince } from './checks.js';
import type { ModeEnvironment } from './environment.js';
import { fileHash } from './injections.js';
import type { InjectedFault } from './protocol.js';
import type { CaseEvidence, ChaosCase, ChaosFault, ChaosRow, Invariants } from './types.js';
import { checkFinal, checkPathKept, checkServiceUp, FINAL_BOUND_MS, outcomeOf, settle } from './verdict.js';

export { FAULTS, type CaseEvidence, type ChaosCase, type ChaosFault, type ChaosRow, type Invariants } from './types.js';

const HOOK_KIND: Record<ChaosFault, FaultKind | undefined> = {
  none: undefined,
  'alert-down': undefined,
  'crash-before': 'crash-before',
  'crash-after': 'crash-after',
  'step-fails': 'step-fails',
  'rollback-during': 'pause',
  'cancel-during': 'pause',
};

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
  // Alerts go down for one case: a Guardian of its own with the refused webhook, and a fresh one after.
  if (c.fault === 'alert-down') await env.reset();
  let agent: Agent;
  try {
    agent = await env.ensure({ alertsDown: c.fault === 'alert-down' });
  } catch (err) {
    await env.reset().catch(() => undefined);
    return {
      row: brokenRow(c, started, `Guardian did not start: ${(err as Error).message.split('\n')[0]}`),
      trace: [],
    };
  }
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
      try {
        agent = await env.recover();
      } catch (err) {
        problems.push(`Guardian did not start again after the crash: ${(err as Error).message.split('\n')[0]}`);
        break;
      }
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
  const pathKept = checkPathKept(c, incident, fired, problems);
  const finalOk = checkFinal(env, c, incident, outcome, problems) && pathKept;
  const settled = await settle(client, env.config.taskQueue, since, incident, problems);

  // Data, files, service, foreign processes: before any cleanup touches them.
  const kept = fault?.kept ?? {};
  const roots = [env.config.stateDir, ...(env.config.disk?.secondary ? [env.config.disk.secondary] : [])];
  let noDataLost: boolean | null = null;
  let noFileLost: boolean | null = null;
  let rollbackRestored = true;
  if (Object.keys(kept).length > 0) {
    let missing = missingFiles(kept, roots, { manifestsCount: c.mode === 'disk-full' });
    // A later incident may be moving a file meanwhile (a log being gzipped between the listing and
    // the read): a file that is really lost stays missing when looked for again.
    for (let i = 0; i < 3 && missing.length > 0; i++) {
      await sleep(1000);
      missing = missingFiles(kept, roots, { manifestsCount: c.mode === 'disk-full' });
    }
    if (missing.length > 0)
      problems.push(`lost: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (+${missing.length - 3})` : ''}`);
    if (c.mode === 'disk-full') noFileLost = missing.length === 0;
    else noDataLost = missing.length === 0;
  }
  // A rollback claims the state before the incident is back: for data the fault left, the live bytes say.
  if (outcome === 'rolled-back' && c.mode !== 'disk-full') {
    const replaced = Object.entries(kept)
      .slice(0, 1)
      .filter(([path, hash]) => fileHash(path) !== hash);
    if (replaced.length > 0)
      problems.push(
        `rolled back, but the live ${replaced.map(([p]) => p).join(', ')} is not what it was before the incident`,
      );
    if (replaced.length > 0) rollbackRestored = false;
  }
  const alerts = incident ? alertsFor(env.config, incident.info.workflowId, since) : [];
  const up = await checkServiceUp(agent, alerts, problems);
  const foreign = [...(fault?.foreignPids ?? []), ...decoys];
  const noForeignKill = alive(foreign);
  if (!noForeignKill) problems.push(`a process Guardian did not start was stopped (pids ${foreign.join(', ')})`);

  const trace = env.hookLines<FaultTraceEntry>('trace');
  await tidy(env, agent, client, resource, {
    crashed: restarts > 0 || c.fault === 'alert-down',
    outlived: outcome !== 'healed',
  });
  const invariants: Invariants = {
    final: finalOk && settled && rollbackRestored,
    noDataLost,
    noFileLost,
    serviceUp: up,
    noForeignKill,
  };
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

/** `guardian clear <mode> <resource>` on the mode's Guardian, for modes that leave overrides. */
async function clearAsOperator(client: Client, config: GuardianConfig, mode: Mode, resource: string): Promise<void> {
  let input: ClearInput;
  try {
    input = clearInput(config, mode, resource);
  } catch {
    return; // nothing this mode leaves in force
  }
  await clearOnGuardian(client, config, input).catch((err: unknown) =>
    process.stderr.write(`  tidy: could not clear ${mode} on ${resource}: ${String(err)}\n`),
  );
}

function brokenRow(c: ChaosCase, started: number, detail: string): ChaosRow {
  const invariants: Invariants = {
    final: false,
    noDataLost: null,
    noFileLost: null,
    serviceUp: false,
    noForeignKill: true,
  };
  return {
    mode: c.mode,
    step: c.step,
    fault: c.fault,
    outcome: 'not-run',
    invariants,
    pass: false,
    detail,
    ms: Date.now() - started,
  };
}

/** Processes the runner started that no Guardian may ever signal. */
export const decoys: number[] = [];

/** Undoes the injection, lifts holds, closes what is still open; after a crash the mode starts over. */
async function tidy(
  env: ModeEnvironment,
  agent: Agent,
  client: Client,
  resource: string | undefined,
  { crashed, outlived }: { crashed: boolean; outlived: boolean },
): Promise<void> {
  env.arm({ points: [] });
  if (crashed || agent.ended) {
    await env.reset();
    return;
  }
  await agent.cleanup();
  // A fault that outlived its incident may have been reported again just before the cleanup: let
  // that incident start before the running ones are listed.
  if (outlived) await sleep(1000);
  let terminated = false;
  for (const info of await runsSince(client, env.config.taskQueue, 0)) {
    if (info.status.name !== 'RUNNING') continue;
    terminated = true;
    await client.workflow
      .getHandle(info.workflowId, info.runId)
      .terminate('chaos: closing before the next case')
      .catch(() => undefined);
  }
  // A terminated incident ran no compensation: what it left in force is ended as an operator would.
  if (terminated && resource) await clearAsOperator(client, env.config, env.mode, resource);
  if (resource) await agent.release(resource);
  for (let i = 0; i < 40; i++) {
    const { health } = await agent.health();
    if (health?.status === 'ok') return;
    await sleep(250);
  }
  await env.reset();
}
