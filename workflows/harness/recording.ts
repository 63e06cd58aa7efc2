import {
  CancellationScope,
  proxyLocalActivities,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { GuardianActivities } from '../../activities/index.js';
import { bookkeepingActivity } from '../activity-options.js';
import { type IncidentInput, type IncidentResult, type IncidentStatus, searchAttributes } from '../definitions.js';

const bookkeeping = proxyLocalActivities<GuardianActivities>(bookkeepingActivity);

/** How urgent an alert is. */
export type Severity = 'info' | 'warning' | 'critical';

/**
 * An incident's record: the live status the `status` query returns, the notes of its summary,
 * and every write of them to the memo, the search attributes, the ledger and the alert outbox.
 */
export class IncidentRecorder {
  readonly status: IncidentStatus;
  readonly notes: string[] = [];
  /** Detections of the same storm absorbed by this incident. */
  joined = 0;
  /** Alerts raised by this run so far: numbers each alert's key. */
  private alerts = 0;
  private readonly workflowId: string;
  private readonly runId: string;

  constructor(private readonly input: IncidentInput<unknown>) {
    ({ workflowId: this.workflowId, runId: this.runId } = workflowInfo());
    this.status = {
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
  }

  /** Tags the run with mode, host, resource and outcome `healing`, and writes the first summary. */
  open(): void {
    upsertSearchAttributes([
      { key: searchAttributes.mode, value: this.input.mode },
      { key: searchAttributes.host, value: this.input.host },
      { key: searchAttributes.resource, value: this.input.resource },
      { key: searchAttributes.outcome, value: 'healing' },
    ]);
    this.summarize();
  }

  /** Appends a sentence to the summary. */
  note(text: string): void {
    this.notes.push(text);
  }

  /** Rewrites the one-line summary (memo) from the outcome, the notes and the storm count. */
  summarize(): void {
    const storm = this.joined > 0 ? [`${this.joined} more detection(s) joined`] : [];
    this.status.summary = [
      `${this.input.mode} on ${this.input.resource}: ${this.status.outcome}`,
      ...this.notes,
      ...storm,
    ].join('; ');
    upsertMemo({ summary: this.status.summary });
  }

  /** Writes outcome and MTTR to the search attributes and the whole incident to the ledger. */
  async record(): Promise<void> {
    const { status } = this;
    this.summarize();
    upsertSearchAttributes([
      { key: searchAttributes.outcome, value: status.outcome },
      ...(status.mttrMs === undefined ? [] : [{ key: searchAttributes.mttrMs, value: status.mttrMs }]),
    ]);
    await bookkeeping.recordIncident({
      workflowId: this.workflowId,
      runId: this.runId,
      outcome: status.outcome,
      healedAt: status.healedAt ?? null,
      mttrMs: status.mttrMs ?? null,
      steps: status.steps,
      summary: status.summary,
    });
  }

  /**
   * Closes a rolled-back incident, even while the workflow is being cancelled: records it and
   * puts the mode+resource on hold — the operator undid the heal, so Guardian must not redo it
   * on the next detection — and says how to lift the hold.
   */
  async closeRolledBack(): Promise<void> {
    const { mode, resource } = this.input;
    await CancellationScope.nonCancellable(async () => {
      this.note(`held: no automatic remediation until \`guardian resume ${mode} ${resource}\``);
      await this.record();
      await bookkeeping.placeHold({
        workflowId: this.workflowId,
        mode,
        resource,
        reason: `rolled back (${this.workflowId})`,
      });
      await this.alert(
        `${mode} on ${resource} was rolled back and is on hold: Guardian will not remediate it again until ` +
          `you run: guardian resume ${mode} ${resource}`,
        'info',
      );
    });
  }

  /** Alerts the user: enqueues it in the ledger's outbox (alert log now, webhook in the background). */
  async alert(message: string, severity: Severity = 'warning'): Promise<void> {
    // A key per run and alert: a retried enqueue, or a replayed one, adds nothing.
    const key = `${this.workflowId}/${this.runId}/alert-${++this.alerts}`;
    await bookkeeping.sendAlert({
      key,
      workflowId: this.workflowId,
      mode: this.input.mode,
      resource: this.input.resource,
      severity,
      message,
    });
  }

  /** Counts one remediation (a heal, or a failure) of this mode+resource for flap protection. */
  async countRemediation(at: number): Promise<void> {
    await bookkeeping.recordHeal({
      workflowId: this.workflowId,
      runId: this.runId,
      mode: this.input.mode,
      resource: this.input.resource,
      at,
    });
  }

  /** The workflow's result: the status without its live-only fields. */
  result(): IncidentResult {
    const { status } = this;
    return {
      outcome: status.outcome,
      detectedAt: status.detectedAt,
      ...(status.healedAt === undefined ? {} : { healedAt: status.healedAt }),
      ...(status.mttrMs === undefined ? {} : { mttrMs: status.mttrMs }),
      summary: status.summary,
      steps: status.steps,
    };
  }
}
