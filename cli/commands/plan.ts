import { WorkflowNotFoundError } from '@temporalio/client';
import { UsageError } from '../../lib/errors.js';
import { connectClient } from '../../lib/temporal.js';
import { type IncidentResult, statusQuery, type StepStatus } from '../../workflows/definitions.js';

/** `guardian plan <workflow-id>`: prints the plan an incident recorded in observe mode. */
export async function plan(workflowId: string, options: { json?: boolean; runId?: string }): Promise<number> {
  const client = await connectClient();
  let recorded: Pick<IncidentResult, 'outcome' | 'summary' | 'steps'>;
  try {
    const handle = client.workflow.getHandle(workflowId, options.runId);
    const { status } = await handle.describe();
    recorded =
      status.name === 'RUNNING' ? await handle.query(statusQuery) : ((await handle.result()) as IncidentResult);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new UsageError(`no incident with workflow id "${workflowId}"; list them with: guardian incidents`);
    throw err;
  } finally {
    await client.connection.close();
  }
  const planned = recorded.steps.filter((s) => s.state === 'planned');
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ workflowId, outcome: recorded.outcome, steps: recorded.steps }, null, 2)}\n`,
    );
    return planned.length > 0 ? 0 : 1;
  }
  if (planned.length === 0) {
    process.stdout.write(
      `${workflowId} recorded no plan (outcome ${recorded.outcome}); plans come from remediate: observe in guardian.yaml.\n`,
    );
    return 1;
  }
  process.stdout.write(`${renderPlan(workflowId, recorded.summary, recorded.steps)}\n`);
  return 0;
}

/** The plan as text: what was inspected, then each planned step with its target. */
export function renderPlan(workflowId: string, summary: string, steps: readonly StepStatus[]): string {
  const lines = [`Plan of ${workflowId} (observe mode; nothing was changed)`, `  ${summary}`];
  for (const s of steps.filter((x) => x.state !== 'planned')) lines.push(`  inspected: ${s.name} (${s.state})`);
  steps
    .filter((s) => s.state === 'planned')
    .forEach((s, i) =>
      lines.push(`  ${i + 1}. ${s.name}: ${s.target ?? 'no target recorded'}${s.detail ? ` [${s.detail}]` : ''}`),
    );
  return lines.join('\n');
}
