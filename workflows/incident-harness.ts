import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { GuardianActivities } from '../activities/index.js';
import { bookkeepingActivity } from './activity-options.js';
import {
  abortSignal,
  type Finding,
  findingSignal,
  type IncidentInput,
  type IncidentResult,
  type IncidentStatus,
  type Outcome,
  rollbackSignal,
  searchAttributes,
  statusQuery,
  type StepStatus,
} from './definitions.js';

const bookkeeping = proxyLocalActivities<GuardianActivities>(bookkeepingActivity);

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
  alert(message: string, severity?: 'info' | 'warning' | 'critical'): Promise<void>;
  /** True once the operator asked to abort. */
  readonly abortRequested: boolean;
}

/** How a step's compensation behaves. */
export interface StepOptions {
  /** Keep the step's effect when the incident fails; undo it only on rollback. @default false */
  readonly keepOnFailure?: boolean;
}

/** Thrown by a step when the operator sent `abort`: no further step runs. */
class AbortRequested extends Error {}

/**
 * Runs one incident: flap check, the remediation's steps with their compensations, the rollback
 * window, and the bookkeeping (search attributes, memo, ledger, alerts). Every incident workflow
 * is a call to this.
 */
export async function runIncident<P>(
  input: IncidentInput<P>,
  remediate: (ctx: IncidentContext<P>) => Promise<void>,
): Promise<IncidentResult> {
  const { workflowId, runId } = workflowInfo();
  const compensations: { step: StepStatus; undo: () => Promise<unknown>; keepOnFailure: boolean }[] = [];
  const notes: string[] = [];
  const status: IncidentStatus = {
    mode: input.mode,
    resource: input.resource,
    host: input.host,
    phase: 'starting',
    outcome: 'healing',
    detectedAt: input.detectedAt,
    steps: [],
    compensationsPending: [],
    summary: `${input.mode} on ${input.resource}: ${input.evidence}`,
  };
  let abortRequested = false;
  let rollbackRequested = false;
  let remediation: CancellationScope | undefined;
  let joined = 0;
  let recurrence: Finding | undefined;

  setHandler(statusQuery, () => status);
  setHandler(abortSignal, (reason) => {
    abortRequested = true;
    notes.push(`abort requested${reason ? `: ${reason}` : ''}`);
  });
  setHandler(findingSignal, (finding) => {
    if (finding.detectedAt === input.detectedAt) return; // the finding that started this run
    // A detection after the heal is a new incident; one before it is the same storm.
    const seenAt = finding.observedAt ?? finding.detectedAt;
    if (status.healedAt !== undefined && status.phase === 'rollback-window' && seenAt > status.healedAt)
      recurrence = finding;
    else joined++;
  });
  setHandler(rollbackSignal, (reason) => {
    rollbackRequested = true;
    notes.push(`rollback requested${reason ? `: ${reason}` : ''}`);
    remediation?.cancel();
  });

  const summarize = () => {
    const storm = joined > 0 ? [`${joined} more detection(s) joined`] : [];
    status.summary = [`${input.mode} on ${input.resource}: ${status.outcome}`, ...notes, ...storm].join('; ');
    upsertMemo({ summary: status.summary });
  };
  const alert = async (message: string, severity: 'info' | 'warning' | 'critical' = 'warning') => {
    await bookkeeping.sendAlert({ workflowId, mode: input.mode, resource: input.resource, severity, message });
  };
  const record = async () => {
    summarize();
    upsertSearchAttributes([
      { key: searchAttributes.outcome, value: status.outcome },
      ...(status.mttrMs === undefined ? [] : [{ key: searchAttributes.mttrMs, value: status.mttrMs }]),
    ]);
    await bookkeeping.recordIncident({
      workflowId,
      runId,
      outcome: status.outcome,
      healedAt: status.healedAt ?? null,
      mttrMs: status.mttrMs ?? null,
      steps: status.steps,
      summary: status.summary,
    });
  };
  const compensate = async (cause: 'rollback' | 'failure' = 'rollback') => {
    status.phase = 'compensating';
    await CancellationScope.nonCancellable(async () => {
      const failures: string[] = [];
      if (cause === 'failure') {
        const kept = compensations.filter((c) => c.keepOnFailure).map((c) => c.step.name);
        if (kept.length > 0) notes.push(`kept after the failure: ${kept.join(', ')}`);
      }
      const undoing = compensations.filter((c) => cause === 'rollback' || !c.keepOnFailure);
      for (const { step, undo } of undoing.reverse()) {
        step.state = 'compensating';
        try {
          await undo();
          step.state = 'compensated';
        } catch (err) {
          step.state = 'compensation-failed';
          step.detail = messageOf(err);
          failures.push(`${step.name}: ${step.detail}`);
        }
        status.compensationsPending = status.compensationsPending.filter((name) => name !== step.name);
      }
      compensations.length = 0;
      if (failures.length > 0) {
        notes.push(`compensation failed for ${failures.length} step(s)`);
        await alert(
          `rollback of ${input.mode} on ${input.resource} left work undone: ${failures.join('; ')}`,
          'critical',
        );
      }
    });
  };

  upsertSearchAttributes([
    { key: searchAttributes.mode, value: input.mode },
    { key: searchAttributes.host, value: input.host },
    { key: searchAttributes.resource, value: input.resource },
    { key: searchAttributes.outcome, value: 'healing' },
  ]);
  summarize();

  const gate = await bookkeeping.openIncident({
    workflowId,
    runId,
    mode: input.mode,
    host: input.host,
    resource: input.resource,
    evidence: input.evidence,
    detectedAt: input.detectedAt,
    injectedAt: input.injectedAt ?? null,
    flapLimit: input.settings.flapLimit,
    flapWindowMs: input.settings.flapWindowMs,
  });
  const countRemediation = () =>
    bookkeeping.recordHeal({ workflowId, runId, mode: input.mode, resource: input.resource, at: Date.now() });
  if (gate.decision !== 'heal') {
    status.outcome = 'flapping';
    status.phase = 'closed';
    notes.push(
      gate.decision === 'paused'
        ? 'auto-remediation is paused for this resource; run `guardian resume` after investigating'
        : `healed ${gate.healsInWindow} times within ${Math.round(input.settings.flapWindowMs / 1000)}s: escalated and paused`,
    );
    await record();
    if (gate.decision === 'flapping') {
      await alert(
        `${input.mode} on ${input.resource} keeps coming back (${gate.healsInWindow} heals in the window). ` +
          `Auto-remediation is paused; investigate, then run: guardian resume ${input.mode} ${input.resource}`,
        'critical',
      );
    }
    return result(status);
  }

  const ctx: IncidentContext<P> = {
    input,
    get abortRequested() {
      return abortRequested;
    },
    note: (text) => {
      notes.push(text);
      summarize();
    },
    alert,
    async step(name, run, undo, options) {
      // A rollback that came before this step (even before the first) means no further step either.
      if (abortRequested || rollbackRequested) throw new AbortRequested();
      const step: StepStatus = { name, state: 'running', startedAt: Date.now(), attempts: 1 };
      status.steps.push(step);
      try {
        const value = await run();
        step.state = 'completed';
        step.endedAt = Date.now();
        if (undo) {
          compensations.push({ step, undo: () => undo(value), keepOnFailure: options?.keepOnFailure === true });
          status.compensationsPending.push(name);
        }
        return value;
      } catch (err) {
        step.state = isCancellation(err) ? 'cancelled' : 'failed';
        step.endedAt = Date.now();
        step.detail = messageOf(err);
        throw err;
      }
    },
    async verify(name, run) {
      const { healthyAt, detail } = await ctx.step(name, run);
      status.healedAt = healthyAt;
      status.mttrMs = Math.max(0, healthyAt - input.detectedAt);
      if (detail) notes.push(detail);
    },
  };

  status.phase = 'remediating';
  try {
    remediation = new CancellationScope();
    await remediation.run(() => remediate(ctx));
    if (rollbackRequested) throw new AbortRequested(); // signal raced the last step: handled below
  } catch (err) {
    if (err instanceof AbortRequested && !rollbackRequested) {
      status.outcome = 'aborted';
      status.phase = 'closed';
      await record();
      return result(status);
    }
    if (rollbackRequested || isCancellation(err)) {
      await compensate();
      status.outcome = 'rolled-back';
      status.phase = 'closed';
      await CancellationScope.nonCancellable(record);
      return result(status);
    }
    notes.push(`failed: ${messageOf(err)}`);
    await compensate('failure');
    await countRemediation(); // failures count toward flap protection too, so retries stay bounded
    status.outcome = 'failed';
    status.phase = 'closed';
    await record();
    await alert(`could not heal ${input.mode} on ${input.resource}: ${messageOf(err)}`, 'critical');
    return result(status);
  } finally {
    remediation = undefined;
  }

  if (status.healedAt === undefined) {
    throw ApplicationFailure.nonRetryable(`${input.mode} remediation ended without a verify step`, 'HarnessMisuse');
  }
  status.outcome = 'healed';
  status.phase = 'rollback-window';
  await bookkeeping.recordHeal({ workflowId, runId, mode: input.mode, resource: input.resource, at: status.healedAt });
  await record();

  try {
    await condition(() => rollbackRequested || recurrence !== undefined, input.settings.rollbackWindowMs);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    rollbackRequested = true;
  }
  if (rollbackRequested) {
    await compensate();
    status.outcome = 'rolled-back';
    await CancellationScope.nonCancellable(record);
  } else if (recurrence) {
    // Same workflow ID, new run: the heal stands, and the recurrence is a new incident.
    const { mode, resource, evidence, detectedAt, observedAt } = recurrence;
    await continueAsNew<(next: IncidentInput<P>) => Promise<IncidentResult>>({
      ...input,
      mode,
      resource,
      evidence,
      detectedAt,
      ...(observedAt === undefined ? {} : { observedAt }),
      injectedAt: undefined,
    });
  }
  status.phase = 'closed';
  status.compensationsPending = [];
  return result(status);
}

function result(status: IncidentStatus): IncidentResult {
  return {
    outcome: status.outcome,
    detectedAt: status.detectedAt,
    ...(status.healedAt === undefined ? {} : { healedAt: status.healedAt }),
    ...(status.mttrMs === undefined ? {} : { mttrMs: status.mttrMs }),
    summary: status.summary,
    steps: status.steps,
  };
}

/** The most useful message of a failure chain (an activity failure's cause says what went wrong). */
function messageOf(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** The outcomes that end an incident. */
export const FINAL_OUTCOMES: readonly Outcome[] = ['healed', 'aborted', 'rolled-back', 'failed', 'flapping'];
