import { ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import type { IncidentInput, IncidentResult, Outcome } from './definitions.js';
import { passFlapGate } from './harness/flap-gate.js';
import { IncidentRecorder, type Severity } from './harness/recording.js';
import { observeIncident } from './harness/observe.js';
import { holdRollbackWindow } from './harness/rollback-window.js';
import { IncidentSignals } from './harness/signals.js';
import { messageOf, type StepOptions, StepRunner, StepsStopped } from './harness/steps.js';
import { FailureType } from '../lib/failures.js';

export type { StepOptions } from './harness/steps.js';

/** What a remediation sees: run named steps, verify health, add to the summary, alert. */
export interface IncidentContext<P> {
  readonly input: IncidentInput<P>;
  /**
   * Runs a step; once it completes, `compensate` (if any) is recorded to undo it on rollback.
   * `keepOnFailure`: when the incident fails, keep what this step did (space freed, low-memory
   * mode on) instead of undoing it; only a rollback undoes it.
   */
  step<T>(
    name: string,
    run: () => Promise<T>,
    compensate?: (result: T) => Promise<unknown>,
    options?: StepOptions,
  ): Promise<T>;
  /** Runs the verify step; its `healthyAt` (the activity's clock) becomes healedAt. */
  verify(name: string, run: () => Promise<{ healthyAt: number; detail?: string }>): Promise<void>;
  /** Appends a sentence to the incident's one-line summary (memo and ledger). */
  note(text: string): void;
  /** Alerts the user now (ledger, alert log, webhook). */
  alert(message: string, severity?: Severity): Promise<void>;
  /**
   * Ends the remediation with outcome `escalated`: no further step runs, what is done is kept,
   * and `message` goes out as a critical alert. For a failure that more of the same cannot fix
   * (a crash loop past its restart budget).
   */
  escalate(message: string): Promise<never>;
  /** True once the operator asked to abort. */
  readonly abortRequested: boolean;
  /** True when the operator forced the rollback (`guardian rollback --force`). */
  readonly rollbackForced: boolean;
}

/** Thrown by {@link IncidentContext.escalate}: the remediation ends, escalated to a person. */
class Escalated extends Error {}

/**
 * Runs one incident: the flap gate, the remediation's steps with their compensations, the
 * rollback window, and the record of it all (search attributes, memo, ledger, alerts). Every
 * incident workflow is a call to this.
 */
export async function runIncident<P>(
  input: IncidentInput<P>,
  remediate: (ctx: IncidentContext<P>) => Promise<void>,
): Promise<IncidentResult> {
  const recorder = new IncidentRecorder(input);
  const { status } = recorder;
  const signals = new IncidentSignals(input, recorder);
  const steps = new StepRunner(recorder, () => signals.stopped);

  recorder.open();
  if (!(await passFlapGate(input, recorder))) return recorder.result();
  if (input.settings.remediate === 'observe') return observeIncident(input, remediate, recorder);

  status.phase = 'remediating';
  const outcome = await remediateInScope(input, remediate, recorder, signals, steps);
  if (outcome) return recorder.result();

  if (status.healedAt === undefined) {
    throw ApplicationFailure.nonRetryable(
      `${input.mode} remediation ended without a verify step`,
      FailureType.HarnessMisuse,
    );
  }
  status.outcome = 'healed';
  status.phase = 'rollback-window';
  await recorder.countRemediation(status.healedAt);
  await recorder.record();

  await holdRollbackWindow(input, recorder, signals, steps);
  status.phase = 'closed';
  status.compensationsPending = [];
  return recorder.result();
}

/**
 * Runs the remediation in a cancellable scope (a rollback cancels it). Returns the outcome when
 * the incident ended there (aborted, rolled back, failed), or undefined when it healed.
 */
async function remediateInScope<P>(
  input: IncidentInput<P>,
  remediate: (ctx: IncidentContext<P>) => Promise<void>,
  recorder: IncidentRecorder,
  signals: IncidentSignals,
  steps: StepRunner,
): Promise<Outcome | undefined> {
  const { status } = recorder;
  const ctx = contextFor(input, recorder, signals, steps);
  try {
    signals.remediation = new CancellationScope();
    await signals.remediation.run(() => remediate(ctx));
    if (signals.rollbackRequested) throw new StepsStopped(); // signal raced the last step: handled below
    return undefined;
  } catch (err) {
    if (err instanceof StepsStopped && !signals.rollbackRequested) {
      status.outcome = 'aborted';
      status.phase = 'closed';
      await recorder.record();
      return status.outcome;
    }
    if (err instanceof Escalated && !signals.rollbackRequested) {
      status.outcome = 'escalated';
      status.phase = 'closed';
      await recorder.record();
      await recorder.alert(err.message, 'critical');
      return status.outcome;
    }
    if (signals.rollbackRequested || isCancellation(err)) {
      await steps.compensate();
      status.outcome = 'rolled-back';
      status.phase = 'closed';
      await recorder.closeRolledBack();
      return status.outcome;
    }
    recorder.note(`failed: ${messageOf(err)}`);
    await steps.compensate('failure');
    await recorder.countRemediation(Date.now()); // failures count toward flap protection too, so retries stay bounded
    status.outcome = 'failed';
    status.phase = 'closed';
    await recorder.record();
    await recorder.alert(`could not heal ${input.mode} on ${input.resource}: ${messageOf(err)}`, 'critical');
    return status.outcome;
  } finally {
    signals.remediation = undefined;
  }
}

/** The context a remediation runs with. */
function contextFor<P>(
  input: IncidentInput<P>,
  recorder: IncidentRecorder,
  signals: IncidentSignals,
  steps: StepRunner,
): IncidentContext<P> {
  const { status } = recorder;
  const ctx: IncidentContext<P> = {
    input,
    get abortRequested() {
      return signals.abortRequested;
    },
    get rollbackForced() {
      return signals.rollbackForced;
    },
    note: (text) => {
      recorder.note(text);
      recorder.summarize();
    },
    alert: (message, severity) => recorder.alert(message, severity),
    async escalate(message) {
      recorder.note('escalated');
      throw new Escalated(message);
    },
    step: (name, run, undo, options) => steps.run(name, run, undo, options),
    async verify(name, run) {
      const { healthyAt, detail } = await ctx.step(name, run);
      status.healedAt = healthyAt;
      status.mttrMs = Math.max(0, healthyAt - input.detectedAt);
      if (detail) recorder.note(detail);
    },
  };
  return ctx;
}

/** The outcomes that end an incident. */
export const FINAL_OUTCOMES: readonly Outcome[] = [
  'healed',
  'aborted',
  'rolled-back',
  'failed',
  'flapping',
  'escalated',
  'observed',
  'held',
];
