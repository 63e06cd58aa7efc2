import { ApplicationFailure } from '@temporalio/activity';
import { describeExit } from '../detectors/service-down.js';
import { hangState, lastLines } from '../lib/exit-evidence.js';
import type { GuardedService } from '../lib/guarded-service.js';
import { describeProcess, isAlive, portHolders, type ProcessInfo, processInfo } from '../lib/proc.js';
import type { ProcessRegistry } from '../lib/process-registry.js';
import { stopVerifiedProcess } from '../lib/supervisor.js';
import { oncePerStep } from '../lib/step-state.js';
import { type ActivityDeps, requireSupervision } from './deps.js';
import { createServiceRestartActivities } from './service-restart.js';
import { FailureType, notGuardiansProcess } from '../lib/failures.js';

/** How long the diagnostics' own health probe waits. */
const RECHECK_TIMEOUT_MS = 300;

/** What Guardian found when the service went down: the facts every later step and the alert use. */
export interface ServiceDiagnostics {
  /** `exited`: no process runs; `hung`: a process runs but does not answer; `answering`: it answers (again). */
  kind: 'exited' | 'hung' | 'answering';
  /**
   * The process concerned (the one that ended, or the one that hangs): its command line only as
   * {@link describeProcess} describes it, since the process may not be Guardian's and this lands in history.
   */
  process: { pid: number; startTicks: number; description: string } | null;
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

/** How a hung process was stopped, and whether the kernel's OOM killer ended it first. */
export interface HungStop {
  stopped: 'terminated' | 'killed' | 'not-running';
  tookMs: number;
  oomKill: boolean;
  oomEvidence: string | null;
}

/** service-down activities: diagnostics, stopping a hung process proven Guardian's, and the restart steps. */
export function createServiceDownActivities(deps: Pick<ActivityDeps, 'config' | 'service' | 'registry' | 'logger'>) {
  return {
    /**
     * Captures how the service went down: exit status or signal, OOM evidence, /proc state of a
     * hang, last lines. Once per step: a re-run (a replay after Guardian died) returns the first
     * capture, so the replay restarts as the first run did, with the restart's low-memory undo on
     * the stack, even when the restarted Guardian already has the service answering again.
     */
    async captureServiceDiagnostics(): Promise<ServiceDiagnostics> {
      return oncePerStep(deps.config.stateDir, async () => {
        const { service, registry } = requireSupervision(deps);
        const lines = [
          ...lastLines(service.supervisor.spec.outputFile, 5),
          ...(deps.config.service?.log ? lastLines(deps.config.service.log, 5) : []),
        ];
        const running = service.supervisor.running;
        if (running) {
          const answering = !heldStopped(running.pid) && (await answers(service));
          const identity = identityOf(running);
          if (answering) return answeringNow(service, identity, lines);
          return hung(service, registry, identity, lines);
        }
        // The process that just ended may still hold its socket while the kernel tears it down.
        const ended = service.supervisor.lastExit?.pid;
        const holder = portHolders(service.port ?? service.intendedPort()).find((h) => isAlive(h) && h.pid !== ended);
        if (holder && !(await answers(service))) {
          return hung(service, registry, identityOf(holder), lines);
        }
        return exited(service, lines);
      });
    },

    /**
     * Stops a hung process, only when the registry proves it is Guardian's own (PID, start time,
     * command line re-read from /proc): SIGTERM (with SIGCONT, so a stopped process acts on it),
     * then SIGKILL after the stop timeout. Anyone else's process is never signalled.
     */
    async stopHungService({ pid, startTicks }: { pid: number; startTicks: number }): Promise<HungStop> {
      const { service, registry } = requireSupervision(deps);
      const began = Date.now();
      // A hang that ends in the kernel's OOM kill (a service thrashing at its memory limit) says so.
      const stopped = (how: HungStop['stopped']): HungStop => {
        const last = service.supervisor.lastExit;
        const oom =
          last?.pid === pid ? service.oom.explain(last, lastLines(service.supervisor.spec.outputFile, 5)) : undefined;
        return {
          stopped: how,
          tookMs: Date.now() - began,
          oomKill: oom?.oomKill ?? false,
          oomEvidence: oom?.evidence ?? null,
        };
      };
      const info = processInfo(pid);
      // Gone, or the PID was reused: the command line is re-read from /proc, never taken from the history.
      if (!isAlive(info) || info.startTicks !== startTicks) return stopped('not-running');
      const own = registry.provenOwn(info);
      if (!own) {
        throw notGuardiansProcess(`${describeProcess(info)} does not answer`);
      }
      const running = service.supervisor.running;
      if (running && running.pid === pid) {
        // Guardian's own child: its process group gets TERM (and CONT), then KILL after the stop timeout.
        await service.supervisor.stop();
        return stopped(service.supervisor.lastExit?.signal === 'SIGKILL' ? 'killed' : 'terminated');
      }
      const outcome = await stopVerifiedProcess(own, service.settings.stopTimeout);
      if (outcome === 'survived') {
        throw ApplicationFailure.nonRetryable(`${describeProcess(info)} survived SIGKILL`, FailureType.Unkillable);
      }
      return stopped(outcome);
    },

    ...createServiceRestartActivities(deps),
  };
}

/** True when the kernel holds the process stopped (SIGSTOP, a debugger): it cannot answer until continued. */
function heldStopped(pid: number): boolean {
  const state = processInfo(pid)?.state;
  return state === 'T' || state === 't';
}

/**
 * A second look before acting on a hang: the liveness probe already failed `threshold` times, so
 * a short timeout. A stopped process gets none ({@link heldStopped}); it could only answer once continued.
 */
async function answers(service: GuardedService): Promise<boolean> {
  try {
    await service.control.health(Math.min(RECHECK_TIMEOUT_MS, service.settings.liveness.timeout));
    return true;
  } catch {
    return false;
  }
}

/** A process as diagnostics record it: PID, start time and the one describer's words for its command line. */
function identityOf(
  info: Pick<ProcessInfo, 'pid' | 'startTicks' | 'argv'>,
): NonNullable<ServiceDiagnostics['process']> {
  return { pid: info.pid, startTicks: info.startTicks, description: describeProcess(info) };
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
      `${service.name}: ${identity.description} is alive but does not answer` +
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
    process: last ? identityOf(last) : null,
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
