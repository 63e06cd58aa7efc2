import type { MemorySettings } from '../lib/config/resources.js';
import { memoryProblems, type MemorySample, sampleMemory } from '../lib/memory.js';
import { describeEvidence, type Evidence, logEvidence } from '../lib/evidence.js';
import { LogClaims } from './log-limit.js';
import type { LogTail } from './log-tail.js';
import type { Detector, Finding, LogLine, ReportFinding } from './types.js';

const OOM_TEXT = /MemoryError|JavaScript heap out of memory|ENOMEM|Cannot allocate memory|out of memory/i;

/** Reads one service log line; returns what it says about memory running out, if anything. */
export function classifyMemoryLine(line: LogLine): string | undefined {
  const json = line.json;
  if (json?.event === 'memory.error') return String(json.msg ?? 'MemoryError').slice(0, 300);
  if (json) {
    const text = `${String(json.code ?? '')} ${String(json.msg ?? '')}`;
    return /ENOMEM|MemoryError|heap out of memory/.test(text) ? text.trim().slice(0, 300) : undefined;
  }
  return OOM_TEXT.test(line.text) ? line.text.slice(0, 300) : undefined;
}

/** Options of {@link createOutOfMemoryDetector}. */
export interface OutOfMemoryDetectorOptions {
  memory: MemorySettings;
  /** The incident's resource: the guarded service's name, or `system`. */
  resource: string;
  /** PIDs whose process trees count as the service (read on every tick: the service restarts). */
  pids: () => number[];
  log?: LogTail;
  /** @default memory.interval, else 1000 */
  intervalMs?: number;
  /** For tests: the sampler. */
  sample?: (pids: number[]) => Promise<MemorySample>;
}

/**
 * out-of-memory detector. Events: the service's own MemoryError / ENOMEM / "JavaScript heap out
 * of memory" lines — a claim that makes the detector measure at once, and opens an incident only
 * when the measured memory (system, swap, the service's RSS) is over its threshold; claims are
 * rate-limited. Memory has no event to wait on, so a tick samples /proc/meminfo and the
 * service's /proc/<pid>/status: a few small reads, whatever the load.
 */
export function createOutOfMemoryDetector(options: OutOfMemoryDetectorOptions): Detector {
  const intervalMs = options.intervalMs ?? options.memory.interval ?? 1000;
  const sample = options.sample ?? ((pids: number[]) => sampleMemory(pids));
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let ticking = false;

  const claims = new LogClaims();
  const finding = (evidence: string, observedAt?: number, details?: Evidence): Finding => ({
    mode: 'out-of-memory',
    resource: options.resource,
    evidence,
    detectedAt: Date.now(),
    ...(observedAt === undefined ? {} : { observedAt }),
    ...(details ? { details } : {}),
  });

  async function tick(report: ReportFinding): Promise<void> {
    const problems = memoryProblems(await sample(options.pids()), options.memory);
    if (problems.length > 0) report(finding(problems.join('; ')));
  }

  return {
    name: 'out-of-memory',
    start(report) {
      unsubscribe = options.log?.onLine((line) => {
        const said = classifyMemoryLine(line);
        if (said === undefined) return;
        const ts = typeof line.json?.ts === 'number' ? line.json.ts : undefined;
        const details = logEvidence(line, { code: memoryCode(said) });
        claims.check(
          options.resource,
          async () => {
            const problems = memoryProblems(await sample(options.pids()), options.memory);
            return problems.length > 0 ? problems.join('; ') : undefined;
          },
          (measured) => report(finding(`${describeEvidence(details)}; confirmed: ${measured}`, ts, details)),
        );
      });
      timer = setInterval(() => {
        if (ticking) return;
        ticking = true;
        void tick(report)
          .catch(() => undefined)
          .finally(() => {
            ticking = false;
          });
      }, intervalMs);
      timer.unref();
    },
    stop() {
      unsubscribe?.();
      if (timer) clearInterval(timer);
    },
  };
}

/** The error name a memory line carries: MemoryError, ENOMEM or HeapOutOfMemory. */
function memoryCode(said: string): string {
  if (/ENOMEM|Cannot allocate memory/i.test(said)) return 'ENOMEM';
  if (/heap out of memory/i.test(said)) return 'HeapOutOfMemory';
  return 'MemoryError';
}
