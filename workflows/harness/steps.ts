import { ActivityFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import type { StepStatus } from '../definitions.js';
import type { IncidentRecorder } from './recording.js';

/** How a step's compensation behaves. */
export interface StepOptions {
  /** Keep the step's effect when the incident fails; undo it only on rollback. @default false */
  readonly keepOnFailure?: boolean;
  /** The step only inspects (detection): observe mode runs it for real. @default false */
  readonly inspect?: boolean;
  /**
   * The undo of this step when it failed or was cancelled, having perhaps acted first (its result
   * is then unknown). Pushed on the compensation stack as a completed step's undo is, so a failure
   * or a rollback undoes what the step may have done. Must be safe when the step did nothing.
   */
  readonly undoFailed?: () => Promise<unknown>;
  /**
   * Earlier steps whose effect this step replaced (a credential slot switched again, say). When
   * this step is kept after a failure, their undos are kept too: run after it, they would put back
   * the state this step replaced. A rollback still runs every undo, newest first. @default []
   */
  readonly supersedes?: readonly string[];
}

/** Observe mode's stand-in for running a step: records it as planned and returns a stand-in result. */
export interface StepPlanner {
  plan<T>(name: string, undoable: boolean): T;
}

/** Thrown by a step when the operator sent `abort` or `rollback`: no further step runs. */
export class StepsStopped extends Error {}

/** One completed step's undo, waiting on the compensation stack. */
interface Compensation {
  readonly step: StepStatus;
  readonly undo: () => Promise<unknown>;
  readonly keepOnFailure: boolean;
  readonly supersedes: readonly string[];
}

/**
 * Runs a remediation's named steps and keeps the compensation stack: each completed step with
 * an undo pushes it; {@link StepRunner.compensate} pops them in reverse order.
 */
export class StepRunner {
  private readonly compensations: Compensation[] = [];

  constructor(
    private readonly recorder: IncidentRecorder,
    /** True once no further step may start (abort or rollback requested). */
    private readonly stopped: () => boolean,
    /** Observe mode: steps that do not only inspect are planned, not run. */
    private readonly planner?: StepPlanner,
  ) {}

  /** Runs one step; once it completes, its undo (if any) goes on the compensation stack. */
  async run<T>(
    name: string,
    run: () => Promise<T>,
    undo?: (result: T) => Promise<unknown>,
    options?: StepOptions,
  ): Promise<T> {
    // A stop that came before this step (even before the first) means no further step either.
    if (this.stopped()) throw new StepsStopped();
    if (this.planner && options?.inspect !== true) return this.planner.plan<T>(name, undo !== undefined);
    const { status } = this.recorder;
    const step: StepStatus = { name, state: 'running', startedAt: Date.now(), attempts: 1 };
    status.steps.push(step);
    try {
      const value = await run();
      step.state = 'completed';
      step.endedAt = Date.now();
      if (undo) {
        this.compensations.push({ step, undo: () => undo(value), ...keeping(options) });
        status.compensationsPending.push(name);
      }
      return value;
    } catch (err) {
      step.state = isCancellation(err) ? 'cancelled' : 'failed';
      step.endedAt = Date.now();
      step.detail = messageOf(err);
      if (options?.undoFailed) {
        this.compensations.push({ step, undo: options.undoFailed, ...keeping(options) });
        status.compensationsPending.push(name);
      }
      throw err;
    }
  }

  /**
   * Pops the compensation stack in reverse order, outside any cancellation. On a rollback every
   * undo runs; after a failure, steps marked `keepOnFailure` keep their effect, and so do the
   * earlier steps a kept step `supersedes`. A failed undo is recorded on its step and alerted
   * once, and the others still run.
   */
  async compensate(cause: 'rollback' | 'failure' = 'rollback'): Promise<void> {
    const { recorder } = this;
    const { status } = recorder;
    status.phase = 'compensating';
    await CancellationScope.nonCancellable(async () => {
      const failures: string[] = [];
      const kept = cause === 'failure' ? keptAfterFailure(this.compensations) : new Set<Compensation>();
      const keptNames = this.compensations.filter((c) => kept.has(c)).map((c) => c.step.name);
      if (keptNames.length > 0) recorder.note(`kept after the failure: ${keptNames.join(', ')}`);
      const undoing = this.compensations.filter((c) => !kept.has(c));
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
      this.compensations.length = 0;
      if (failures.length > 0) {
        recorder.note(`compensation failed for ${failures.length} step(s)`);
        await recorder.alert(
          `rollback of ${status.mode} on ${status.resource} left work undone: ${failures.join('; ')}`,
          'critical',
        );
      }
    });
  }
}

/** The keep options of a step as its compensation records them. */
function keeping(options: StepOptions | undefined): Pick<Compensation, 'keepOnFailure' | 'supersedes'> {
  return { keepOnFailure: options?.keepOnFailure === true, supersedes: options?.supersedes ?? [] };
}

/**
 * The compensations whose effect stays after a failure: each one marked `keepOnFailure`, and each
 * earlier one that a kept step supersedes (its undo would reinstate what the kept step replaced).
 */
function keptAfterFailure(compensations: readonly Compensation[]): Set<Compensation> {
  const kept = new Set(compensations.filter((c) => c.keepOnFailure));
  compensations.forEach((c, i) => {
    const later = compensations.slice(i + 1);
    if (later.some((k) => kept.has(k) && k.supersedes.includes(c.step.name))) kept.add(c);
  });
  return kept;
}

/** The most useful message of a failure chain (an activity failure's cause says what went wrong). */
export function messageOf(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
