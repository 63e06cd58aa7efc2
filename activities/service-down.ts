import { ApplicationFailure } from '@temporalio/activity';
import { describeExit } from '../detectors/service-down.js';
import { hangState, lastLines } from '../lib/exit-evidence.js';
import type { GuardedService } from '../lib/guarded-service.js';
import { describeProcess, portHolders, processInfo, sameProcess } from '../lib/proc.js';
import type { ProcessRegistry } from '../lib/process-registry.js';
import { stopVerifiedProcess } from '../lib/supervisor.js';
import { type ActivityDeps, requireSupervision } from './deps.js';
import { createServiceRestartActivities } from './service-restart.js';
import { FailureType } from '../lib/failures.js';

/** What Guardian found when the service went down: the facts every later step and the alert use. */
export interface ServiceDiagnostics {
  /** `exited`: no process runs; `hung`: a process runs but does not answer; `answering`: it answers (again). */
  kind: 'exited' | 'hung' | 'answering';
  /** The process concerned (the one that ended, or the one that hangs). */
  process: { pid: number; startTicks: number; argv: string[] } | null;
  /** A hung process is Guardian's own: the registry proves PID, start time and command line. */
  ownProcess: boolean;
  exit: { code: number | null; signal: string | null; at: number; ranMs: number } | null;
  /** The kernel (or the runtime) ended it for lack of memory, and what proves it. */
  oomKill: boolean;
  oomEvidence: string | null;
  /** For a hang: /proc's state of the process. */
  procState: string | null;
  /** The last lines of its output and log, secrets hidden, each cut short. */
  lastLines: string[];
  /** One line for the incident summary. */
  summary: string;
}

/** service-down activities: diagnostics, stopping a hung process proven Guardian's, and the restart steps. */
export function createServiceDownActivities(deps: Pick<ActivityDeps, 'config' | 'service' | 'registry' | 'logger'>) {
  return {
    /** Captures how the service went down: exit status or signal, OOM evidence, /proc state of a hang, last lines. */
    async captureServiceDiagnostics(): Promise<ServiceDiagnostics> {
      const { service, registry } = requireSupervision(deps);
      const lines = [
        ...lastLines(service.supervisor.spec.outputFile, 5),
        ...(deps.config.service?.log ? lastLines(deps.config.service.log, 5) : []),
      ];
      const running = service.supervisor.running;
      if (running) {
        const answering = await answers(service);
        const identity = { pid: running.pid, startTicks: running.startTicks, argv: [...running.argv] };
        if (answering) return answeringNow(service, identity, lines);
        return hung(service, registry, identity, lines);
      }
      const foreign = portHolders(service.port ?? service.intendedPort());
      const holder = foreign[0];
      if (holder && !(await answers(service))) {
        return hung(
          service,
          registry,
          { pid: holder.pid, startTicks: holder.startTicks, argv: [...holder.argv] },
          lines,
        );
      }
      return exited(service, lines);
    },

    /**
     * Stops a hung process, only when the registry proves it is Guardian's own (PID, start time,
     * command line re-read from /proc): SIGTERM (with SIGCONT, so a stopped process acts on it),
     * then SIGKILL after the stop timeout. Anyone else's process is never signalled.
     */
    async stopHungService({
      pid,
      startTicks,
      argv,
    }: {
      pid: number;
      startTicks: number;
      argv: string[];
    }): Promise<{ stopped: 'terminated' | 'killed' | 'not-running'; tookMs: number }> {
      const { service, registry } = requireSupervision(deps);
      const began = Date.now();
      const info = processInfo(pid);
      if (!sameProcess(info, { pid, startTicks, argv })) return { stopped: 'not-running', tookMs: 0 };
      if (!registry.provenOwn(info)) {
        throw ApplicationFailure.nonRetryable(
          `${describeProcess({ pid, argv })} does not answer, but Guardian did not start it (no registry entry with its ` +
            'PID, start time and command line), so it was not signalled. Stop it yourself if it is yours to stop.',
          FailureType.NotGuardiansProcess,
        );
      }
      const running = service.supervisor.running;
      if (running && running.pid === pid) {
        // Guardian's own child: its process group gets TERM (and CONT), then KILL after the stop timeout.
        await service.supervisor.stop();
        const killed = service.supervisor.lastExit?.signal === 'SIGKILL';
        return { stopped: killed ? 'killed' : 'terminated', tookMs: Date.now() - began };
      }
      const outcome = await stopVerifiedProcess({ pid, startTicks, argv }, service.settings.stopTimeout);
      if (outcome === 'survived') {
        throw ApplicationFailure.nonRetryable(
          `${describeProcess({ pid, argv })} survived SIGKILL`,
          FailureType.Unkillable,
        );
      }
      return { stopped: outcome === 'not-running' ? 'not-running' : outcome, tookMs: Date.now() - began };
    },

    ...createServiceRestartActivities(deps),
  };
}

async function answers(service: GuardedService): Promise<boolean> {
  try {
    await service.control.health(service.settings.liveness.timeout);
    return true;
  } catch {
    return false;
  }
}

function answeringNow(
  service: GuardedService,
  identity: NonNullable<ServiceDiagnostics['process']>,
  lines: string[],
): ServiceDiagnostics {
  return {
    kind: 'answering',
    process: identity,
    ownProcess: true,
    exit: null,
    oomKill: false,
    oomEvidence: null,
    procState: null,
    lastLines: lines,
    summary: `${service.name} (pid ${identity.pid}) answers again`,
  };
}

function hung(
  service: GuardedService,
  registry: ProcessRegistry,
  identity: NonNullable<ServiceDiagnostics['process']>,
  lines: string[],
): ServiceDiagnostics {
  const own = registry.provenOwn(processInfo(identity.pid)) !== undefined;
  const procState = hangState(identity.pid) ?? null;
  return {
    kind: 'hung',
    process: identity,
    ownProcess: own,
    exit: null,
    oomKill: false,
    oomEvidence: null,
    procState,
    lastLines: lines,
    summary:
      `${service.name}: ${describeProcess(identity)} is alive but does not answer` +
      (procState ? ` (${procState})` : '') +
      (own ? '' : '; Guardian did not start it'),
  };
}

function exited(service: GuardedService, lines: string[]): ServiceDiagnostics {
  const last = service.supervisor.lastExit;
  const oom = last ? service.oom.explain(last, lines) : { oomKill: false };
  const exit = last
    ? {
        code: last.code ?? null,
        signal: last.signal ?? null,
        at: last.at,
        ranMs: Math.max(0, last.at - last.startedAt),
      }
    : null;
  const how = last ? describeExit(service.name, last.code, last.signal) : `${service.name} is not running`;
  return {
    kind: 'exited',
    process: last ? { pid: last.pid, startTicks: last.startTicks, argv: [...last.argv] } : null,
    ownProcess: true,
    exit,
    oomKill: oom.oomKill,
    oomEvidence: oom.evidence ?? null,
    procState: null,
    lastLines: lines,
    summary:
      how +
      (exit ? ` after ${Math.round(exit.ranMs / 100) / 10} s` : '') +
      (oom.oomKill ? `: killed for lack of memory (${oom.evidence})` : ''),
  };
}
