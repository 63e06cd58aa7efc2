import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NewAlert } from './alert-outbox.js';
import type { GuardianConfig } from './config/load.js';
import type { Ledger } from './ledger.js';
import type { Logger } from './logger.js';
import { createPrivateFile } from './state-db.js';

/**
 * Raises an alert: enqueues it in the ledger's outbox (the background deliverer posts it to the
 * webhook), logs it, and appends it to the alert log once. Never fails for a channel that is
 * down; a repeated key adds nothing.
 */
export async function raiseAlert(
  { ledger, logger, config }: { ledger: Ledger; logger: Logger; config: GuardianConfig },
  alert: NewAlert,
): Promise<void> {
  const { created, alert: stored } = ledger.alerts.enqueue(alert, config.alerts.webhook !== undefined);
  if (created) logger[alert.severity === 'info' ? 'info' : 'warn']({ alert }, alert.message);
  const file = config.alerts.file;
  if (!file || stored.logged) return;
  try {
    await mkdir(dirname(file), { recursive: true });
    const { key, at, workflowId, mode, resource, severity, message } = stored;
    createPrivateFile(file);
    await appendFile(file, `${JSON.stringify({ id: key, at, workflowId, mode, resource, severity, message })}\n`);
    ledger.alerts.markLogged(key);
  } catch (err) {
    // The alert is in the ledger and the outbox; a full disk must not fail an incident.
    logger.error({ err, file }, `could not append the alert to ${file}; it is kept in the ledger`);
  }
}
