import { PersistingFault, type PersistingFaultOptions } from './persisting.js';
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
  /**
   * The boot as the service reports it now (`GET /guardian/boot`), read once at start: a boot
   * that began before the detector (Guardian starts the service first, or restarted mid-boot)
   * is timed from the chunks' own start times.
   */
  readonly current?: () => Promise<CurrentBoot | undefined>;
  readonly now?: () => number;
  /** Pauses between re-reports of a chunk that still runs past its budget. */
  readonly persisting?: PersistingFaultOptions;
}

/** The parts of `/guardian/boot` the detector reads. */
export interface CurrentBoot {
  readonly status: 'booting' | 'done';
  readonly startedAt: number;
  readonly chunks: readonly {
    name: string;
    critical: boolean;
    deferrable: boolean;
    state: string;
    background: boolean;
    startedAt?: number;
  }[];
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
  const persisting = new PersistingFault(options.persisting);

  const budgetOf = (chunk: string) => options.budgets.chunks[chunk] ?? options.budgets.chunkMs;
  const found = (resource: string, evidence: string) =>
    report?.({ mode: 'slow-boot', resource, evidence, detectedAt: now() });
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
    bootTimer = setTimeout(
      () => {
        const [current] = running.values();
        const ranFor = now() - startedAt;
        if (current)
          found(
            current.name,
            `boot has run ${ranFor} ms, over its ${options.budgets.bootMs} ms budget; chunk ${current.name} is running (${describe(current)})`,
          );
        else found('boot', `boot has run ${ranFor} ms, over its ${options.budgets.bootMs} ms budget`);
      },
      Math.max(0, startedAt + options.budgets.bootMs - now()),
    );
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
    armChunk(name, ts, json.critical === true, json.deferrable === true);
  }

  function armChunk(name: string, startedAt: number, critical: boolean, deferrable: boolean): void {
    const previous = running.get(name);
    if (previous?.startedAt === startedAt) return; // the same run, seen twice (log line and boot report)
    if (previous) clearTimeout(previous.timer);
    const budgetMs = budgetOf(name);
    const chunk: RunningChunk = {
      name,
      startedAt,
      budgetMs,
      critical,
      deferrable,
      timer: setTimeout(
        () => {
          const evidence = () =>
            running.get(name) === chunk
              ? `boot chunk ${name} has run ${now() - startedAt} ms, over its ${budgetMs} ms budget (${describe(chunk)})`
              : undefined;
          const first = evidence();
          if (first === undefined) return;
          found(name, first);
          // Should that incident fail or be rolled back while the chunk still runs, it is reported
          // again. A critical chunk is never skipped: its one failed incident and alert say it all.
          if (!critical) persisting.watch(`${name}@${startedAt}`, evidence, (again) => found(name, again));
        },
        Math.max(0, startedAt + budgetMs - now()),
      ),
    };
    chunk.timer.unref();
    running.set(name, chunk);
  }

  async function catchUp(): Promise<void> {
    const boot = await options.current?.().catch(() => undefined);
    if (!boot || boot.status !== 'booting' || !report) return;
    armBoot(boot.startedAt);
    for (const c of boot.chunks) {
      if (c.state === 'running' && !c.background && c.startedAt !== undefined)
        armChunk(c.name, c.startedAt, c.critical, c.deferrable);
    }
  }

  return {
    name: 'slow-boot',
    start(reportFinding) {
      report = reportFinding;
      unsubscribe = options.log.onLine(onLine);
      void catchUp();
    },
    stop() {
      unsubscribe?.();
      persisting.stop();
      reset();
      report = undefined;
    },
  };
}
