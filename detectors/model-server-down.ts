import type { ApiProbe } from '../lib/model-server.js';
import { LogClaims } from './log-limit.js';
import type { Detector, Finding, LogLine, ProcessExits } from './types.js';

/** Options of {@link createModelServerDownDetector}. */
export interface ModelServerDownDetectorOptions {
  /** The model server's name: the incident's resource. */
  readonly name: string;
  /** One `GET /api/version`. */
  readonly probe: () => Promise<ApiProbe>;
  /** How often the API is probed. @default 1000 */
  readonly intervalMs?: number;
  /** The supervised model server process: an unexpected `exit` is a finding at once. */
  readonly process?: ProcessExits;
  /** The guarded service's log: its failed model calls, each only a claim that {@link probe} must confirm. */
  readonly log?: { onLine(listener: (line: LogLine) => void): () => void };
  /**
   * While the server stays down after a report, the probe and the log report again only after
   * this delay, doubled each time up to 5 minutes, so a recovery that failed is retried with
   * backoff instead of every tick. @default 30000
   */
  readonly recheckAfterMs?: number;
  /** True while the model server's restarts are held after a crash loop: its incident is escalated already. */
  readonly held?: () => boolean;
}

/** The longest pause between two reports of a server that stays down. */
const MAX_RECHECK_MS = 5 * 60_000;

/** Failures that say the server is down or hung (a 404 for an unknown model does not). */
const DOWN_CODES = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_\w+|EHOSTUNREACH|HTTP_5\d\d)$/;

/** Reads a `model.error` line of the service's log; returns its code when it says the model server is down. */
export function classifyModelLine(line: LogLine): string | undefined {
  if (line.json?.event !== 'model.error') return undefined;
  const code = String(line.json.code ?? '');
  return DOWN_CODES.test(code) ? code : undefined;
}

/**
 * model-server-down detector. Events first: the supervised process exiting, and the service's
 * failed model calls — a claim that makes the detector probe `/api/version` at once, reported
 * only when that probe fails too (claims rate-limited). A probe every tick as well (one small
 * request), for a server Guardian does not run itself or one that hangs: connection refused
 * counts at once, a timeout or a server error only twice in a row.
 */
export function createModelServerDownDetector(options: ModelServerDownDetectorOptions): Detector {
  let report: ((finding: Finding) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let probing = false;
  let failures = 0;
  let lastReportAt = 0;
  let quietMs = 0;
  const claims = new LogClaims();
  const found = (evidence: string, observedAt?: number) =>
    report?.({
      mode: 'model-server-down',
      resource: options.name,
      evidence,
      detectedAt: Date.now(),
      ...(observedAt === undefined ? {} : { observedAt }),
    });
  /** Reports unless the server has been reported down within the current quiet period. */
  const foundStillDown = (evidence: string, observedAt?: number) => {
    if (options.held?.()) return; // before the quiet period grows, so a resume is acted on at once
    const now = Date.now();
    if (now - lastReportAt < quietMs) return;
    quietMs = quietMs === 0 ? (options.recheckAfterMs ?? 30_000) : Math.min(quietMs * 2, MAX_RECHECK_MS);
    lastReportAt = now;
    found(evidence, observedAt);
  };
  const onExit = (code: number | undefined, signal: string | undefined, expected: boolean) => {
    // An exit is news every time: Guardian only restarts the server inside an incident.
    if (!expected && !options.held?.())
      found(`${options.name} exited (${signal ? `signal ${signal}` : `code ${code ?? 'unknown'}`})`);
  };

  async function tick(): Promise<void> {
    const result = await options.probe();
    if (result.ok) {
      failures = 0;
      quietMs = 0;
      return;
    }
    failures++;
    if (result.code === 'ECONNREFUSED' || failures >= 2)
      foundStillDown(`GET /api/version: ${result.code} ${result.message}`);
  }

  return {
    name: 'model-server-down',
    start(reportFinding) {
      report = reportFinding;
      options.process?.on('exit', onExit);
      unsubscribe = options.log?.onLine((line) => {
        const code = classifyModelLine(line);
        if (!code) return;
        const ts = typeof line.json?.ts === 'number' ? line.json.ts : undefined;
        claims.check(
          options.name,
          async () => {
            const result = await options.probe();
            return result.ok ? undefined : `GET /api/version: ${result.code} ${result.message}`;
          },
          (probed) => foundStillDown(`service log: model call failed with ${code}; confirmed: ${probed}`, ts),
        );
      });
      timer = setInterval(() => {
        if (probing) return;
        probing = true;
        void tick()
          .catch(() => undefined)
          .finally(() => {
            probing = false;
          });
      }, options.intervalMs ?? 1000);
      timer.unref();
    },
    stop() {
      options.process?.off('exit', onExit);
      unsubscribe?.();
      if (timer) clearInterval(timer);
      report = undefined;
    },
  };
}
