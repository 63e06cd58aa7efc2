import { describeEvidence, type Evidence, logEvidence } from '../lib/evidence.js';
import { LogClaims } from './log-limit.js';
import { PersistingFault, type PersistingFaultOptions } from './persisting.js';
import type { Detector, Finding, LogLine, ProcessExits } from './types.js';

/** Linux's errno for EADDRINUSE: the exit code of a guarded service that could not bind (docs/contract.md). */
export const EXIT_ADDRESS_IN_USE = 98;

/** The events the detector listens to; {@link GuardedService} and {@link Supervisor} provide them. */
export interface PortInUseSources {
  /** Bind probes before a start: `port-busy` when the port was taken, and the last such result. */
  readonly starts?: {
    on(event: 'port-busy', listener: (port: number, at: number) => void): unknown;
    off(event: 'port-busy', listener: (port: number, at: number) => void): unknown;
    readonly blockedPort?: { port: number; at: number } | undefined;
  };
  /** The service process: `exit` with its code. */
  readonly process?: ProcessExits;
  /** The service's log: `bind.error` lines, each only a claim for {@link confirm} to check. */
  readonly log?: { onLine(listener: (line: LogLine) => void): () => void };
  /**
   * Confirms a log line's claim with Guardian's own look at the port the line names (the
   * service's current or last attempted port, when it names none): who holds it, when a listener
   * other than the supervised service does, else undefined. Without it, log lines are not acted on.
   */
  readonly confirm?: (port: number | undefined) => Promise<string | undefined>;
  /**
   * Why the service is still down because of its port (it is meant to run, does not, and its
   * last start found the port taken or it exited 98), or `undefined` once it is not.
   */
  readonly stillDown?: () => string | undefined;
  /** Pauses between re-reports while {@link stillDown} says so. */
  readonly persisting?: PersistingFaultOptions;
}

/** Reads a `bind.error` line with code EADDRINUSE (or an "Address already in use" message); returns the port if given. */
export function classifyBindLine(line: LogLine): { port?: number; message: string } | undefined {
  const json = line.json;
  if (json?.event === 'bind.error') {
    if (json.code !== 'EADDRINUSE') return undefined;
    return { ...(typeof json.port === 'number' ? { port: json.port } : {}), message: String(json.msg ?? 'EADDRINUSE') };
  }
  // Services that do not speak the contract: Python's OSError, Node's and Go's messages.
  if (!/EADDRINUSE|address already in use|WinError 10048/i.test(line.text)) return undefined;
  const port = /:(\d{2,5})\b/.exec(line.text)?.[1];
  return { ...(port ? { port: Number(port) } : {}), message: line.text.slice(0, 300) };
}

/**
 * port-in-use detector, events only: the bind probe Guardian runs before each start, the service
 * exiting with 98 (EADDRINUSE), and `bind.error` in its log — a claim that opens an incident only
 * once Guardian's own look finds the port held by another listener (rate-limited per service).
 * The resource is the service's name. After a probe or an exit, the finding is repeated while the
 * service stays down for its port.
 */
export function createPortInUseDetector(service: string, sources: PortInUseSources): Detector {
  let report: ((finding: Finding) => void) | undefined;
  const claims = new LogClaims();
  const found = (evidence: string, observedAt?: number, details?: Evidence) =>
    report?.({
      mode: 'port-in-use',
      resource: service,
      evidence,
      detectedAt: Date.now(),
      ...(observedAt === undefined ? {} : { observedAt }),
      ...(details ? { details } : {}),
    });
  const onBusy = (port: number, at: number) => {
    found(`port ${port} is taken (bind probe before start)`, at);
    watch();
  };
  const onExit = (code: number | undefined, _signal: string | undefined, expected: boolean) => {
    if (expected || code !== EXIT_ADDRESS_IN_USE) return;
    found(`${service} exited with code ${code} (EADDRINUSE)`);
    watch();
  };
  let unsubscribe: (() => void) | undefined;
  // An incident that failed or was rolled back leaves the port taken and the service down: while
  // that lasts, the finding comes again (with doubling pauses), so the service is not left down.
  const persisting = new PersistingFault(sources.persisting);
  const watch = () => {
    const { stillDown } = sources;
    if (stillDown) persisting.watch(service, stillDown, (evidence) => found(evidence));
  };

  return {
    name: 'port-in-use',
    start(reportFinding) {
      report = reportFinding;
      sources.starts?.on('port-busy', onBusy);
      sources.process?.on('exit', onExit);
      const confirm = sources.confirm;
      unsubscribe = sources.log?.onLine((line) => {
        const bind = classifyBindLine(line);
        if (!bind || !confirm) return;
        const ts = typeof line.json?.ts === 'number' ? line.json.ts : undefined;
        const details = logEvidence(line, { code: 'EADDRINUSE' });
        claims.check(
          service,
          () => confirm(bind.port),
          (holder) => found(`${describeEvidence(details)}; confirmed: ${holder}`, ts, details),
        );
      });
      // A start before the detector ran (Guardian's own start) may already have found the port taken.
      const blocked = sources.starts?.blockedPort;
      if (blocked) onBusy(blocked.port, blocked.at);
    },
    stop() {
      sources.starts?.off('port-busy', onBusy);
      sources.process?.off('exit', onExit);
      unsubscribe?.();
      persisting.stop();
      report = undefined;
    },
  };
}
