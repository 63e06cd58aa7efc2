import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Finding, Mode } from '../lib/modes.js';

export { type Finding, type Mode, MODES } from '../lib/modes.js';

/** Durations and limits an incident runs with; workflow inputs so tests can shorten them. */
export interface IncidentSettings {
  /** How long a healed incident stays open for a rollback. @default 900000 */
  readonly rollbackWindowMs: number;
  /** Heals of the same mode+resource within flapWindowMs that make the next one escalate. @default 5 */
  readonly flapLimit: number;
  /** @default 600000 */
  readonly flapWindowMs: number;
  /** `observe`: record the plan, change nothing (`remediate:` in guardian.yaml). @default 'auto' */
  readonly remediate?: 'auto' | 'observe';
}

/** Input of every incident workflow. `params` carries the mode's own plain-data settings. */
export interface IncidentInput<P = Record<string, unknown>> extends Finding {
  readonly host: string;
  /** Set by drills: when the fault was injected (epoch ms). */
  readonly injectedAt?: number;
  readonly settings: IncidentSettings;
  readonly params: P;
}

/** How an incident ended (or `healing` while it runs). */
export type Outcome =
  'healing' | 'healed' | 'aborted' | 'rolled-back' | 'failed' | 'flapping' | 'escalated' | 'observed' | 'held';

/** Where an incident is in its life. */
export type Phase = 'starting' | 'remediating' | 'rollback-window' | 'compensating' | 'closed';

/** One step of a remediation as the status query reports it. */
export interface StepStatus {
  readonly name: string;
  state:
    | 'running'
    | 'completed'
    | 'failed'
    | 'cancelled'
    | 'compensating'
    | 'compensated'
    | 'compensation-failed'
    | 'planned';
  readonly startedAt: number;
  endedAt?: number;
  /** Times the harness ran this step (activity retries are visible in the history). */
  attempts: number;
  detail?: string;
  /** Observe mode: what the step would act on (files, port, process, backup, endpoint). */
  target?: string;
}

/** Answer of the `status` query. */
export interface IncidentStatus {
  readonly mode: Mode;
  readonly resource: string;
  readonly host: string;
  phase: Phase;
  outcome: Outcome;
  readonly detectedAt: number;
  healedAt?: number;
  mttrMs?: number;
  readonly steps: StepStatus[];
  compensationsPending: string[];
  summary: string;
}

/** Result of an incident workflow. */
export interface IncidentResult {
  readonly outcome: Outcome;
  readonly detectedAt: number;
  readonly healedAt?: number;
  readonly mttrMs?: number;
  readonly summary: string;
  readonly steps: readonly StepStatus[];
}

/** Stop after the step that is running; keep what is done. */
export const abortSignal = defineSignal<[reason?: string]>('abort');
/** How a rollback was asked for. */
export interface RollbackOptions {
  /** Roll back even what changed since the heal (a database written since); the live state is kept aside first. */
  readonly force?: boolean;
}

/** Undo the completed steps in reverse order (also what Cancel in the UI does, unforced). */
export const rollbackSignal = defineSignal<[reason?: string, options?: RollbackOptions]>('rollback');
/** A detector saw the failure again: joins a running incident, or opens a new one after a heal. */
export const findingSignal = defineSignal<[Finding]>('finding');
/** The incident's live state. */
export const statusQuery = defineQuery<IncidentStatus>('status');

/** Guardian's search attributes, registered on the server by temporal-dev.sh. */
export const searchAttributes = {
  mode: { name: 'GuardianMode', type: 'KEYWORD' },
  host: { name: 'GuardianHost', type: 'KEYWORD' },
  resource: { name: 'GuardianResource', type: 'KEYWORD' },
  outcome: { name: 'GuardianOutcome', type: 'KEYWORD' },
  mttrMs: { name: 'GuardianMttrMs', type: 'INT' },
} as const;

/** `<mode>:<host>:<resource>`, the workflow ID of an incident. */
export function incidentWorkflowId(mode: Mode, host: string, resource: string): string {
  return `${mode}:${host}:${resource}`;
}
