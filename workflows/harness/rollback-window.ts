import { CancellationScope, condition, continueAsNew, isCancellation } from '@temporalio/workflow';
import type { IncidentInput, IncidentResult } from '../definitions.js';
import type { IncidentRecorder } from './recording.js';
import type { IncidentSignals } from './signals.js';
import type { StepRunner } from './steps.js';

/**
 * Keeps a healed incident open for its rollback window. A rollback (or Cancel) in the window
 * undoes the steps; a recurrence after the heal continues as a new run of the same workflow ID
 * (the heal stands); otherwise the window ends and the incident closes healed.
 */
export async function holdRollbackWindow<P>(
  input: IncidentInput<P>,
  recorder: IncidentRecorder,
  signals: IncidentSignals,
  steps: StepRunner,
): Promise<void> {
  try {
    await condition(
      () => signals.rollbackRequested || signals.recurrence !== undefined,
      input.settings.rollbackWindowMs,
    );
  } catch (err) {
    if (!isCancellation(err)) throw err;
    signals.rollbackRequested = true;
  }
  // A Cancel that came with a recurrence in one activation is still a rollback: continuing as
  // new would drop it, and the operator's Cancel would be lost on the next run.
  if (CancellationScope.current().consideredCancelled) signals.rollbackRequested = true;
  if (signals.rollbackRequested) {
    await steps.compensate();
    recorder.status.outcome = 'rolled-back';
    await recorder.closeRolledBack();
  } else if (signals.recurrence) {
    const { mode, resource, evidence, detectedAt, observedAt } = signals.recurrence;
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
}
