import { join } from 'node:path';
import { createTable } from '../../lib/table.js';
import { loadConfig } from '../../lib/config/load.js';
import { Ledger } from '../../lib/ledger.js';
import { renderQuiet } from './hold.js';
import { renderOverrides } from '../../lib/override-report.js';
import { listOverrides } from '../../lib/overrides.js';
import { outboxReport, renderOutbox } from '../../lib/outbox-report.js';
import { renderRestarts, restartStatuses } from '../../lib/restart-report.js';
import { renderStateReport, stateReport } from '../../lib/state-report.js';
import { connectClient } from '../../lib/temporal.js';
import { type IncidentStatus, statusQuery } from '../../workflows/definitions.js';

/** `guardian status`: open incidents of this host from Temporal visibility, lasting overrides, paused and held resources, the restart budgets of the service and the model server, and the offline outbox's calls by outcome. */
export async function status(options: { config: string; json?: boolean }): Promise<number> {
  const config = loadConfig(options.config);
  const client = await connectClient();
  const open: (IncidentStatus & { workflowId: string })[] = [];
  try {
    const query = `GuardianHost = "${config.host.replaceAll('"', '')}" AND ExecutionStatus = "Running"`;
    for await (const wf of client.workflow.list({ query })) {
      const state = await client.workflow.getHandle(wf.workflowId, wf.runId).query(statusQuery);
      open.push({ workflowId: wf.workflowId, ...state });
    }
  } finally {
    await client.connection.close();
  }
  const ledger = new Ledger(join(config.stateDir, 'ledger.db'));
  const quiet = ledger.quietAll();
  const undeliveredAlerts = ledger.alerts.undelivered().length;
  ledger.close();
  const overrides = await listOverrides(config);
  const state = await stateReport(config);
  const restarts = restartStatuses(config);
  const outbox = outboxReport(config.stateDir);
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ open, quiet, overrides, restarts, undeliveredAlerts, outbox, ...state }, null, 2)}\n`,
    );
    return 0;
  }
  if (open.length === 0) process.stdout.write('No open incidents.\n');
  else {
    const table = createTable(['workflow id', 'phase', 'outcome', 'steps', 'MTTR']);
    for (const s of open) {
      const steps = s.steps.map((st) => `${st.name}:${st.state}`).join(' ');
      table.push([s.workflowId, s.phase, s.outcome, steps, s.mttrMs === undefined ? '' : `${s.mttrMs} ms`]);
    }
    process.stdout.write(`${table.toString()}\n`);
  }
  process.stdout.write(renderOverrides(overrides));
  process.stdout.write(renderRestarts(restarts));
  process.stdout.write(renderQuiet(quiet));
  process.stdout.write(renderOutbox(outbox, config.stateDir));
  if (undeliveredAlerts > 0) {
    process.stdout.write(`${undeliveredAlerts} alert(s) not delivered to the webhook yet; Guardian keeps retrying.\n`);
  }
  process.stdout.write(`${renderStateReport(state).join('\n')}\n`);
  return 0;
}
