import type { GuardianConfig } from '../lib/config/load.js';
import type { Logger } from '../lib/logger.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import type { Mode } from '../lib/modes.js';

/**
 * The Guardian a drill injects into. Started by the drill in this process (isolated), every part
 * is there; a Guardian running in another process (`guardian up`) is seen through its config,
 * ledger and registry only, the parts a drill can open from outside.
 */
export type DrillGuardian = Pick<GuardianRuntime, 'config' | 'ledger' | 'registry' | 'logger'> &
  Partial<Omit<GuardianRuntime, 'config' | 'ledger' | 'registry' | 'logger'>>;

/** What a drill injects into: the Guardian it acts on and its demo service. */
export interface DrillEnvironment {
  readonly runtime: DrillGuardian;
  /** The same Guardian with every part, when the drill started it in this process (isolated). */
  readonly own?: GuardianRuntime;
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

/** How a drill's `configure` is called. */
export interface ConfigureOptions {
  /**
   * The Guardian it configures restarts after a crash of its own (a fault-matrix recovery): what
   * Guardian keeps in its state directory stays, as it would across a real restart.
   */
  readonly recovering?: boolean;
}

/** A mode's drill: the spec's test scenario (and harder variants), injected for real. */
export interface ModeDrill {
  readonly mode: Mode;
  /** The spec's MTTR target, compared against total MTTR (injection → healed). */
  readonly targetMs: number;
  /**
   * The drill injects from outside Guardian (files, HTTP), so it can act on a Guardian running in
   * another process. Without it the mode needs a Guardian of its own (it changes the config that
   * Guardian starts with, or reaches into its process) and runs isolated.
   * @default false
   */
  readonly attachable?: boolean;
  /**
   * Why an `attachable` drill cannot run on this running Guardian as it is configured (its
   * config asks for more than the drill may do safely); undefined when it can. The drill then
   * runs in an isolated Guardian, and the reason is printed.
   */
  attachRefusal?(config: GuardianConfig): string | undefined;
  /**
   * Adjusts the drill's config before Guardian starts (a threshold set low for the test, a small
   * filesystem of its own). Whatever it sets up, `teardown` removes.
   */
  configure?(config: GuardianConfig, options?: ConfigureOptions): Promise<GuardianConfig>;
  /** Runs once before the first injection (e.g. take a verified backup). */
  prepare?(env: DrillEnvironment): Promise<void>;
  /** Runs once after Guardian stopped, whatever happened: removes what `configure` set up. */
  teardown?(): Promise<void>;
  /** Injects the fault of run `run` (0-based; variants cycle with it). */
  inject(env: DrillEnvironment, run: number): Promise<Injection>;
}

/** One injected run, measured. */
export interface DrillRun {
  mode: Mode;
  run: number;
  variant: string;
  resource: string;
  outcome: string;
  injectedAt: number;
  detectedAt?: number;
  healedAt?: number;
  detectMs?: number;
  totalMs?: number;
  workflowId?: string;
  error?: string;
}

/** How to run drills. */
export interface DrillOptions {
  repeat: number;
  onProgress?: (line: string) => void;
  runTimeoutMs?: number;
  /** Stops the drill early (Ctrl-C): the current fault is cleaned up and everything stopped. */
  signal?: AbortSignal;
  /** The drill's Guardian logs here (default: stderr, readable on a terminal). */
  logger?: Logger;
}

/**
 * The Guardian the drill started in this process; throws when the drill acts on a Guardian
 * running elsewhere (a drill that needs this is not `attachable`).
 */
export function ownGuardian(env: DrillEnvironment): GuardianRuntime {
  if (!env.own)
    throw new Error(
      'this drill needs a Guardian of its own but acts on one running in another process; run it with --isolated',
    );
  return env.own;
}
