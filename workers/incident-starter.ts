import type { Client } from '@temporalio/client';
import type { GuardianConfig } from '../lib/config/load.js';
import { sanitizeFinding } from '../lib/evidence.js';
import type { Logger } from '../lib/logger.js';
import {
  type Finding,
  findingSignal,
  type IncidentInput,
  incidentWorkflowId,
  searchAttributes,
} from '../workflows/definitions.js';
import { remediationLevel } from '../lib/config/operators.js';
import { incidentSettings, type ModeWiring, modes } from './modes.js';
import type { QuietGate } from './quiet-gate.js';

/**
 * Turns findings into incident workflows: `<mode>:<host>:<resource>` on the host's task queue,
 * with signal-with-start so a running incident absorbs the finding instead of duplicating it.
 * Findings for an ID already sent within `coalesceMs` are dropped locally: a storm of
 * detections costs one RPC, not one per detection. Findings for a paused or held mode+resource
 * start nothing (the `quiet` gate counts them and reminds the operator now and then).
 */
export class IncidentStarter {
  private readonly lastSent = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<void>>();
  private dropped = 0;
  private quieted = 0;

  constructor(
    private readonly client: Client,
    private readonly config: GuardianConfig,
    private readonly logger: Logger,
    private readonly options: { coalesceMs?: number; injectedAt?: () => number | undefined; quiet?: QuietGate } = {},
  ) {}

  /** Findings for paused or held resources that started nothing so far. */
  get suppressed(): number {
    return this.quieted;
  }

  /** Detections absorbed locally so far. */
  get coalesced(): number {
    return this.dropped;
  }

  /**
   * Reports one finding; resolves once Temporal has it (or it was coalesced). Never throws. Its
   * evidence is redacted first: what follows (workflow input, memo, ledger, logs) holds no secret.
   */
  report(detected: Finding): Promise<void> {
    const finding = sanitizeFinding(detected);
    // remediate: off in guardian.yaml: the finding starts nothing.
    if (remediationLevel(this.config.remediate, finding.mode, finding.resource) === 'off') return Promise.resolve();
    const workflowId = incidentWorkflowId(finding.mode, this.config.host, finding.resource);
    const now = Date.now();
    if (this.isQuiet(finding, now)) {
      this.quieted++;
      return Promise.resolve();
    }
    const pending = this.inflight.get(workflowId);
    if (pending || now - (this.lastSent.get(workflowId) ?? 0) < (this.options.coalesceMs ?? 1000)) {
      this.dropped++;
      return pending ?? Promise.resolve();
    }
    this.lastSent.set(workflowId, now);
    const sent = this.send(workflowId, finding)
      .catch((err: unknown) => {
        this.lastSent.delete(workflowId);
        this.logger.error({ err, workflowId }, 'could not start incident workflow');
      })
      .finally(() => this.inflight.delete(workflowId));
    this.inflight.set(workflowId, sent);
    return sent;
  }

  /**
   * Paused or held: the ledger says no. A ledger that cannot be read lets the finding through
   * (the workflow's gate asks again).
   */
  private isQuiet(finding: Finding, now: number): boolean {
    try {
      return this.options.quiet?.suppresses(finding, now) !== undefined;
    } catch (err) {
      this.logger.error({ err, mode: finding.mode, resource: finding.resource }, 'could not read holds and pauses');
      return false;
    }
  }

  private async send(workflowId: string, finding: Finding): Promise<void> {
    const injectedAt = this.options.injectedAt?.();
    const wiring: ModeWiring = modes[finding.mode];
    const input: IncidentInput<unknown> = {
      ...finding,
      host: this.config.host,
      settings: {
        ...incidentSettings(this.config),
        ...(remediationLevel(this.config.remediate, finding.mode, finding.resource) === 'observe'
          ? { remediate: 'observe' as const }
          : {}),
      },
      params: wiring.params(finding.resource, this.config),
      ...(injectedAt === undefined ? {} : { injectedAt }),
    };
    await this.client.workflow.signalWithStart(wiring.workflow, {
      workflowId,
      taskQueue: this.config.taskQueue,
      args: [input],
      signal: findingSignal,
      signalArgs: [finding],
      typedSearchAttributes: [
        { key: searchAttributes.mode, value: finding.mode },
        { key: searchAttributes.host, value: this.config.host },
        { key: searchAttributes.resource, value: finding.resource },
        { key: searchAttributes.outcome, value: 'healing' },
      ],
      memo: { summary: `${finding.mode} on ${finding.resource}: ${finding.evidence}` },
    });
    this.logger.info({ workflowId, evidence: finding.evidence }, 'incident reported');
  }
}
