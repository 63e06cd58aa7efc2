import type { ProbeRound } from '../lib/network-probe.js';
import { REPEAT_FIRST_MS, REPEAT_MAX_MS } from './persisting.js';
import type { Detector, Finding, ReportFinding } from './types.js';

/** Options of {@link createNetworkUnreachableDetector}. */
export interface NetworkUnreachableDetectorOptions {
  /** Runs one round of probes (DNS, TCP, ping). */
  probe: () => Promise<ProbeRound>;
  /** Time between rounds. @default 500 */
  intervalMs?: number;
  /** Consecutive failed rounds that mean "offline". @default 2 */
  failedRounds?: number;
  /** True while offline mode is on: the incident's own watch probes then, with backoff. */
  paused?: () => boolean;
  /** Subscribes to hints that the network may be gone (outbound calls failing below HTTP); returns the unsubscribe. */
  hints?: (listener: () => void) => () => void;
  /** The resource incidents name. @default "network" */
  resource?: string;
  /** Pause before an outage that lasts is reported again, doubling to {@link maxRepeatMs}. @default 2000 */
  repeatMs?: number;
  /** @default 300000 */
  maxRepeatMs?: number;
}

/**
 * network-unreachable detector: a round of cheap probes every interval (no overlap), and one at
 * once when outbound calls start failing below HTTP. `failedRounds` failed rounds in a row are
 * one finding. An outage that outlives its incident (one that failed, or was rolled back) is
 * reported again after a pause that doubles from `repeatMs` to `maxRepeatMs`; a round that
 * succeeds starts over. While the incident still runs a repeat only joins it, and for a held or
 * paused resource the starter drops it.
 */
export function createNetworkUnreachableDetector(options: NetworkUnreachableDetectorOptions): Detector {
  const intervalMs = options.intervalMs ?? 500;
  const failedRounds = options.failedRounds ?? 2;
  const resource = options.resource ?? 'network';
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let running = false;
  let failed = 0;
  const repeatMs = options.repeatMs ?? REPEAT_FIRST_MS;
  const maxRepeatMs = options.maxRepeatMs ?? REPEAT_MAX_MS;
  // When the outage may be reported (again), and the pause after that report.
  let reportAt = 0;
  let pauseMs = repeatMs;
  let lastRoundAt = 0;
  let report: ReportFinding = () => undefined;

  async function round(): Promise<void> {
    if (running) return;
    if (options.paused?.()) {
      failed = 0;
      return;
    }
    running = true;
    lastRoundAt = Date.now();
    try {
      const result = await options.probe();
      if (result.up) {
        failed = 0;
        reportAt = 0;
        pauseMs = repeatMs;
        return;
      }
      failed++;
      if (failed >= failedRounds && Date.now() >= reportAt) {
        reportAt = Date.now() + pauseMs;
        pauseMs = Math.min(pauseMs * 2, maxRepeatMs);
        const detail = result.results.map((r) => `${r.target} ${r.error ?? 'failed'}`).join('; ');
        const finding: Finding = {
          mode: 'network-unreachable',
          resource,
          evidence: `${failed} probe rounds failed: ${detail}`,
          detectedAt: Date.now(),
        };
        report(finding);
      }
    } catch {
      // A probe that throws is a bug in a probe, not evidence about the network.
    } finally {
      running = false;
    }
  }

  return {
    name: 'network-unreachable',
    start(onFinding) {
      report = onFinding;
      timer = setInterval(() => void round(), intervalMs);
      timer.unref();
      unsubscribe = options.hints?.(() => {
        // A hint runs a round now, but not more than two per interval.
        if (Date.now() - lastRoundAt >= intervalMs / 2) void round();
      });
      void round();
    },
    stop() {
      unsubscribe?.();
      if (timer) clearInterval(timer);
    },
  };
}
