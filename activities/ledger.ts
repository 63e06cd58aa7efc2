import type { FlapDecision, IncidentRecord } from '../lib/ledger.js';
import type { ActivityDeps } from './deps.js';

/** Ledger activities: the durable record of incidents, heal counts and pauses. */
export function createLedgerActivities({ ledger }: Pick<ActivityDeps, 'ledger'>) {
  return {
    /** Records the incident and runs the flap gate (idempotent per workflow run). */
    async openIncident(
      input: Pick<
        IncidentRecord,
        'workflowId' | 'runId' | 'mode' | 'host' | 'resource' | 'evidence' | 'detectedAt' | 'injectedAt'
      > & {
        flapLimit: number;
        flapWindowMs: number;
      },
    ): Promise<FlapDecision> {
      const { flapLimit, flapWindowMs, ...incident } = input;
      return ledger.openIncident(incident, { limit: flapLimit, windowMs: flapWindowMs });
    },
    async recordIncident(
      update: Pick<IncidentRecord, 'workflowId' | 'runId' | 'outcome' | 'healedAt' | 'mttrMs' | 'steps' | 'summary'>,
    ): Promise<void> {
      ledger.recordIncident(update);
    },
    /** Puts a mode+resource on hold after an operator's rollback (idempotent: a retry changes nothing). */
    async placeHold(hold: { workflowId: string; mode: string; resource: string; reason: string }): Promise<void> {
      if (ledger.holds.active(hold.mode, hold.resource)?.workflowId === hold.workflowId) return;
      ledger.holds.place({ ...hold, since: Date.now(), until: null, source: 'rollback' });
    },
    async recordHeal(heal: {
      workflowId: string;
      runId: string;
      mode: string;
      resource: string;
      at: number;
    }): Promise<void> {
      ledger.recordHeal(heal);
    },
  };
}
