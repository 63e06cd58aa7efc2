import type { GuardianConfig } from '../lib/config/load.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import type { Mode } from '../lib/modes.js';

/** What a drill injects into: a Guardian running in this process with its own task queue and demo service. */
export interface DrillEnvironment {
  readonly runtime: GuardianRuntime;
  /** Port the demo service listens on now. */
  servicePort(): number | undefined;
}

/** One injected fault. `cleanup` is always called, whatever happened, and must leave nothing behind. */
export interface Injection {
  /** The resource the incident will name (database name, port, endpoint …). */
  readonly resource: string;
  /** When the fault was in place (epoch ms). */
  readonly injectedAt: number;
  /** Which variant of the scenario this run used. */
  readonly variant: string;
  cleanup(): Promise<void>;
}

/** A mode's drill: the spec's test scenario (and harder variants), injected for real. */
export interface ModeDrill {
  readonly mode: Mode;
  /** The spec's MTTR target, compared against total MTTR (injection → healed). */
  readonly targetMs: number;
  /**
   * Adjusts the drill's config before Guardian starts (a threshold set low for the test, a small
   * filesystem of its own). Whatever it sets up, `teardown` removes.
   */
  configure?(config: GuardianConfig): Promise<GuardianConfig>;
  /** Runs once before the first injection (e.g. take a verified backup). */
  prepare?(env: DrillEnvironment): Promise<void>;
  /** Runs once after Guardian stopped, whatever happened: removes what `configure` set up. */
  teardown?(): Promise<void>;
  /** Injects the fault of run `run` (0-based; variants cycle with it). */
  inject(env: DrillEnvironment, run: number): Promise<Injection>;
}
