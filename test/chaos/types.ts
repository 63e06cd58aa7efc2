import type { FaultTraceEntry } from '../../lib/fault-hook.js';
import type { Mode } from '../../workflows/definitions.js';
import type { CaseRun } from './checks.js';

/** The faults of the matrix; `none` is the baseline run that discovers a mode's steps. */
export const FAULTS = [
  'crash-before',
  'crash-after',
  'step-fails',
  'rollback-during',
  'cancel-during',
  'alert-down',
] as const;

/** One fault of the matrix, or the baseline. */
export type ChaosFault = (typeof FAULTS)[number] | 'none';

/** One case: a fault at a step (the activity call that is the step's side effect). */
export interface ChaosCase {
  readonly mode: Mode;
  /** The drill variant (run index) whose steps these are. */
  readonly run: number;
  readonly step: string;
  readonly fault: ChaosFault;
  readonly activity?: string;
  readonly nth?: number;
  /**
   * The steps the first run had done when the fault fired (those before the step, and for
   * `crash-after` the step too): a replay after the crash must still show each, or their undos
   * are missing from the compensation stack.
   */
  readonly done?: readonly string[];
}

/** What each invariant concluded; null where it does not apply to the mode. */
export interface Invariants {
  final: boolean;
  noDataLost: boolean | null;
  noFileLost: boolean | null;
  serviceUp: boolean;
  noForeignKill: boolean;
}

/** One row of the matrix. */
export interface ChaosRow {
  readonly mode: Mode;
  readonly step: string;
  readonly fault: ChaosFault;
  readonly outcome: string;
  readonly invariants: Invariants;
  readonly pass: boolean;
  /** Why a check failed (empty when the case passed). */
  readonly detail: string;
  readonly ms: number;
}

/** What a case leaves for step discovery: the hook's trace and the incident's steps. */
export interface CaseEvidence {
  readonly row: ChaosRow;
  /** The hook's trace of the case (every activity call). */
  readonly trace: FaultTraceEntry[];
  readonly incident?: CaseRun;
  readonly resource?: string;
}
