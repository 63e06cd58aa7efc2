import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AlertSeverity } from '../lib/alert-outbox.js';
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
export function createAlertActivities({ ledger, logger, config }: Pick<ActivityDeps, 'ledger' | 'logger' | 'config'>) {
  return {
    async sendAlert(alert: Alert): Promise<void> {
      const { created, alert: stored } = ledger.alerts.enqueue(
        { ...alert, at: Date.now() },
        config.alerts.webhook !== undefined,
      );
      if (created) logger[alert.severity === 'info' ? 'info' : 'warn']({ alert }, alert.message);
      const file = config.alerts.file;
      if (!file || stored.logged) return;
      try {
        await mkdir(dirname(file), { recursive: true });
        const { key, at, workflowId, mode, resource, severity, message } = stored;
        await appendFile(file, `${JSON.stringify({ id: key, at, workflowId, mode, resource, severity, message })}\n`);
        ledger.alerts.markLogged(key);
      } catch (err) {
        // The alert is in the ledger and the outbox; a full disk must not fail the incident.
        logger.error({ err, file }, `could not append the alert to ${file}; it is kept in the ledger`);
      }
    },
  };
}
