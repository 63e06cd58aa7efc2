import { EXIT_ADDRESS_IN_USE } from './port-in-use.js';
import type { Detector, Finding, ProcessExits } from './types.js';

/** One liveness probe: answered (with the PID that answered, if it says), or why not. */
export type LivenessProbe = { ok: true; pid?: number } | { ok: false; reason: string };

/** guardian.yaml's `service.liveness`, in milliseconds. */
export interface LivenessOptions {
  /** @default 1000 */
  readonly periodMs: number;
  /** @default 1000 */
  readonly timeoutMs: number;
  /** @default 3 */
  readonly threshold: number;
}

/** What the service-down detector watches; {@link GuardedService} provides it. */
export interface ServiceDownSources {
  /** The service's name: the incident's resource. */
  readonly name: string;
  /** The supervised process: `exit` with its code or signal, and whether Guardian asked for it. */
  readonly process: ProcessExits;
  /** The running process, if any. */
  readonly running: () => { readonly pid: number } | undefined;
  /** One health probe with a timeout. */
  readonly probe: (timeoutMs: number) => Promise<LivenessProbe>;
  readonly liveness: LivenessOptions;
  /**
   * Why the service is down though Guardian means it to run and no other mode owns the reason
   * (a lifted hold, a failed restart); undefined when it is not. Checked each period.
   */
  readonly downUnexpectedly?: () => string | undefined;
  /** True once `pid` answered a health request from anyone in Guardian since it started. */
  readonly answered?: (pid: number) => boolean;
  /** True while the service's restarts are held after a crash loop: its incident is escalated already. */
  readonly held?: () => boolean;
}

/** Describes how a process ended, as evidence reads it. */
export function describeExit(name: string, code: number | undefined, signal: string | undefined): string {
  return `${name} exited (${signal ? `signal ${signal}` : `code ${code ?? 'unknown'}`})`;
}

/**
 * service-down detector. The exit event of the supervised process, when Guardian did not ask for
 * it, is reported at once (any code or signal but 98, which is port-in-use's). While the process
 * runs, its health route is probed every `period` with `timeout`: `threshold` failures in a row,
 * after it had answered once since its start, are a hang. One probe in flight at a time, so
 * the cost is one small request per period whatever happens.
 */
export function createServiceDownDetector(sources: ServiceDownSources): Detector {
  const { name, liveness } = sources;
  let report: ((finding: Finding) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let watchedPid: number | undefined;
  let answered = false;
  let failures = 0;
  let downTicks = 0;

  const found = (evidence: string) =>
    report?.({ mode: 'service-down', resource: name, evidence, detectedAt: Date.now() });
  const onExit = (code: number | undefined, signal: string | undefined, expected: boolean) => {
    if (expected || (code === EXIT_ADDRESS_IN_USE && !signal) || sources.held?.()) return;
    found(describeExit(name, code, signal));
  };

  async function tick(): Promise<void> {
    const running = sources.running();
    if (!running) {
      watchedPid = undefined;
      const why = sources.downUnexpectedly?.();
      downTicks = why ? downTicks + 1 : 0;
      // Twice in a row: a restart in progress leaves the service down for a moment only.
      if (why && downTicks === 2) found(`${name} is not running: ${why}`);
      return;
    }
    downTicks = 0;
    if (running.pid !== watchedPid) {
      watchedPid = running.pid;
      answered = false;
      failures = 0;
    }
    const result = await sources.probe(liveness.timeoutMs);
    if (sources.running()?.pid !== watchedPid) return; // replaced meanwhile: the answer is about another process
    if (result.ok) {
      answered = true;
      failures = 0;
      return;
    }
    answered ||= sources.answered?.(watchedPid) === true;
    if (!answered) return; // still starting: slow-boot's business, not a hang
    failures++;
    if (failures >= liveness.threshold) {
      found(
        `${name} (pid ${watchedPid}) is alive but did not answer its health route ${failures} times in a row ` +
          `(every ${liveness.periodMs} ms, ${liveness.timeoutMs} ms timeout; last: ${result.reason})`,
      );
      failures = 0;
    }
  }

  const schedule = (delayMs: number) => {
    if (!report) return;
    timer = setTimeout(() => {
      const began = Date.now();
      void tick()
        .catch(() => undefined)
        .finally(() => schedule(Math.max(0, liveness.periodMs - (Date.now() - began))));
    }, delayMs);
    timer.unref();
  };

  return {
    name: 'service-down',
    start(reportFinding) {
      report = reportFinding;
      sources.process.on('exit', onExit);
      schedule(liveness.periodMs);
    },
    stop() {
      sources.process.off('exit', onExit);
      if (timer) clearTimeout(timer);
      report = undefined;
    },
  };
}
