import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ActivityDeps } from './deps.js';

/** An alert for the user: something Guardian did, or something the user must act on. */
export interface Alert {
  workflowId?: string;
  mode?: string;
  resource?: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
}

/** Alert activities: every alert goes to the ledger, the alert log and, when configured, a webhook. */
export function createAlertActivities({ ledger, logger, config }: Pick<ActivityDeps, 'ledger' | 'logger' | 'config'>) {
  return {
    async sendAlert(alert: Alert): Promise<void> {
      const at = Date.now();
      ledger.recordAlert({ ...alert, at });
      logger[alert.severity === 'info' ? 'info' : 'warn']({ alert }, alert.message);
      const file = config.alerts.file;
      if (file) {
        await mkdir(dirname(file), { recursive: true });
        await appendFile(file, `${JSON.stringify({ at, ...alert })}\n`);
      }
      if (config.alerts.webhook) {
        const res = await fetch(config.alerts.webhook, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ at, ...alert }),
          signal: AbortSignal.timeout(5000),
        });
        // A failing webhook is retried by the activity's bounded retry policy.
        if (!res.ok) throw new Error(`alert webhook answered ${res.status}`);
      }
    },
  };
}
