import { WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { connectClient } from '../../lib/temporal.js';
import { credentialsUpdatedSignal } from '../../workflows/credential-watch.js';
import { incidentWorkflowId } from '../../workflows/definitions.js';

/**
 * `guardian credentials-updated <endpoint>`: tells the open invalid-credentials incident of an
 * endpoint that its credential was updated, so it re-checks now instead of at its next window.
 */
export async function credentialsUpdated(endpoint: string, options: { config: string }): Promise<number> {
  const config = loadConfig(options.config);
  if (!config.egress.endpoints.some((e) => e.name === endpoint)) {
    const known = config.egress.endpoints.map((e) => e.name).join(', ') || '(none)';
    throw new UsageError(`no endpoint "${endpoint}" in ${config.file}; endpoints: ${known}`);
  }
  const workflowId = incidentWorkflowId('invalid-credentials', config.host, endpoint);
  const client = await connectClient();
  try {
    await client.workflow.getHandle(workflowId).signal(credentialsUpdatedSignal);
    process.stdout.write(`Told ${workflowId} the credential was updated; it re-checks now.\n`);
    return 0;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new UsageError(
        `${endpoint} has no open invalid-credentials incident (nothing is waiting for a new credential)`,
      );
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}
