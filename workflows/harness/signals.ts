import { type CancellationScope, setHandler } from '@temporalio/workflow';
import {
  abortSignal,
  type Finding,
  findingSignal,
  type IncidentInput,
  rollbackSignal,
  statusQuery,
} from '../definitions.js';
import type { IncidentRecorder } from './recording.js';

/**
 * What the operator and the detectors told a running incident: `abort`, `rollback` (which also
 * cancels the running step), and findings — the same storm joins, a detection after the heal is
 * a recurrence. Installs the handlers and the `status` query.
 */
export class IncidentSignals {
  abortRequested = false;
  rollbackRequested = false;
  /** Set by `guardian rollback --force`: roll back even data changed since the heal. */
  rollbackForced = false;
  /** A detection after the heal: the next incident. */
  recurrence: Finding | undefined;
  /** The scope the remediation runs in while it runs; a rollback cancels it. */
  remediation: CancellationScope | undefined;

  constructor(input: IncidentInput<unknown>, recorder: IncidentRecorder) {
    const { status } = recorder;
    setHandler(statusQuery, () => status);
    setHandler(abortSignal, (reason) => {
      this.abortRequested = true;
      recorder.note(`abort requested${reason ? `: ${reason}` : ''}`);
    });
    setHandler(findingSignal, (finding) => {
      if (finding.detectedAt === input.detectedAt) return; // the finding that started this run
      // A detection after the heal is a new incident; one before it is the same storm.
      const seenAt = finding.observedAt ?? finding.detectedAt;
      if (status.healedAt !== undefined && status.phase === 'rollback-window' && seenAt > status.healedAt)
        this.recurrence = finding;
      else recorder.joined++;
    });
    setHandler(rollbackSignal, (reason, options) => {
      this.rollbackRequested = true;
      this.rollbackForced ||= options?.force === true;
      recorder.note(`rollback requested${options?.force ? ' (forced)' : ''}${reason ? `: ${reason}` : ''}`);
      this.remediation?.cancel();
    });
  }

  /** True once no further step may start. */
  get stopped(): boolean {
    return this.abortRequested || this.rollbackRequested;
  }
}
