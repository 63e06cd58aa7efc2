import type { AlertSeverity } from '../lib/alert-outbox.js';
import { raiseAlert } from '../lib/alerts.js';
import type { ActivityDeps } from './deps.js';

/** An alert for the user: something Guardian did, or something the user must act on. */
export interface Alert {
  /** Unique per alert (the workflow derives it from its run and a counter): a retry adds nothing. */
  key: string;
  workflowId?: string;
  mode?: string;
  resource?: string;
  severity: AlertSeverity;
  message: string;
}

/**
 * Alert activities. `sendAlert` only enqueues: the alert goes into the ledger's outbox (and the
 * alert log); the webhook is the background deliverer's job, so an unreachable webhook can never
 * fail an incident.
 */
export function createAlertActivities(deps: Pick<ActivityDeps, 'ledger' | 'logger' | 'config'>) {
  return {
    async sendAlert(alert: Alert): Promise<void> {
      await raiseAlert(deps, { ...alert, at: Date.now() });
    },
  };
}
