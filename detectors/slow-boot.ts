import type { Detector, Finding, LogLine } from './types.js';

/** Boot budgets (from guardian.yaml's service.boot). */
export interface BootBudgets {
  /** The whole boot. @default 30000 */
  readonly bootMs: number;
  /** A chunk not named in `chunks`. @default 10000 */
  readonly chunkMs: number;
  readonly chunks: Readonly<Record<string, number>>;
}

/** Options of {@link createSlowBootDetector}. */
export interface SlowBootDetectorOptions {
  readonly log: { onLine(listener: (line: LogLine) => void): () => void };
  readonly budgets: BootBudgets;
  readonly now?: () => number;
}

interface RunningChunk {
  readonly name: string;
  readonly startedAt: number;
  readonly budgetMs: number;
  readonly critical: boolean;
  readonly deferrable: boolean;
  timer: NodeJS.Timeout;
}

/**
 * slow-boot detector. The service's boot-chunk lines (docs/contract.md, boot protocol) arm one
 * timer per running chunk at the chunk's own start time plus its budget, and one for the whole
 * boot; the chunk's end (or `boot.done`) disarms them. Nothing is polled: a timer that fires is
 * the detection, so it lands when the budget runs out, not a tick later. The resource is the
 * slow chunk (`boot` when the boot budget ran out between chunks).
 */
export function createSlowBootDetector(options: SlowBootDetectorOptions): Detector {
  const now = options.now ?? Date.now;
  const running = new Map<string, RunningChunk>();
  let bootTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let report: ((finding: Finding) => void) | undefined;

  const budgetOf = (chunk: string) => options.budgets.chunks[chunk] ?? options.budgets.chunkMs;
  const found = (resource: string, evidence: string) => report?.({ mode: 'slow-boot', resource, evidence, detectedAt: now() });
  const describe = (c: RunningChunk) =>
    `${c.critical ? 'critical' : 'not critical'}, ${c.deferrable ? 'deferrable' : 'not deferrable'}`;

  function reset(): void {
    for (const c of running.values()) clearTimeout(c.timer);
    running.clear();
    if (bootTimer) clearTimeout(bootTimer);
    bootTimer = undefined;
  }

  function armBoot(startedAt: number): void {
    if (bootTimer) return;
    bootTimer = setTimeout(() => {
      const [current] = running.values();
      const ranFor = now() - startedAt;
      if (current) found(current.name, `boot has run ${ranFor} ms, over its ${options.budgets.bootMs} ms budget; chunk ${current.name} is running (${describe(current)})`);
      else found('boot', `boot has run ${ranFor} ms, over its ${options.budgets.bootMs} ms budget`);
    }, Math.max(0, startedAt + options.budgets.bootMs - now()));
    bootTimer.unref();
  }

  function onLine(line: LogLine): void {
    const json = line.json;
    if (!json) return;
    const ts = typeof json.ts === 'number' ? json.ts : line.readAt;
    if (json.event === 'listening') {
      reset(); // a new process: a new boot
      armBoot(ts);
      return;
    }
    if (json.event === 'boot.done') {
      reset();
      return;
    }
    if (json.event !== 'boot.chunk' || json.background === true || typeof json.chunk !== 'string') return;
    const name = json.chunk;
    if (json.phase !== 'start') {
      const done = running.get(name);
      if (done) clearTimeout(done.timer);
      running.delete(name);
      return;
    }
    armBoot(ts);
    const chunk: RunningChunk = {
      name,
      startedAt: ts,
      budgetMs: budgetOf(name),
      critical: json.critical === true,
      deferrable: json.deferrable === true,
      timer: setTimeout(() => {
        if (running.get(name) !== chunk) return;
        found(name, `boot chunk ${name} has run ${now() - chunk.startedAt} ms, over its ${chunk.budgetMs} ms budget (${describe(chunk)})`);
      }, Math.max(0, ts + budgetOf(name) - now())),
    };
    chunk.timer.unref();
    const previous = running.get(name);
    if (previous) clearTimeout(previous.timer);
    running.set(name, chunk);
  }

  return {
    name: 'slow-boot',
    start(reportFinding) {
      report = reportFinding;
      unsubscribe = options.log.onLine(onLine);
    },
    stop() {
      unsubscribe?.();
      reset();
      report = undefined;
    },
  };
}
