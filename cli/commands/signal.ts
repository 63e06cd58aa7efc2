import { WorkflowNotFoundError } from '@temporalio/client';
import { UsageError } from '../../lib/errors.js';
import { connectClient } from '../../lib/temporal.js';
import { abortSignal, rollbackSignal } from '../../workflows/definitions.js';

async function send(workflowId: string, which: 'abort' | 'rollback', reason: string | undefined): Promise<number> {
  const client = await connectClient();
  try {
    const handle = client.workflow.getHandle(workflowId);
    await handle.signal(which === 'abort' ? abortSignal : rollbackSignal, reason);
    process.stdout.write(`Sent ${which} to ${workflowId}. Follow it with: guardian status\n`);
    return 0;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new UsageError(
        `no open incident with workflow id "${workflowId}" (it may have closed); list them with: guardian status`,
      );
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}

/** `guardian abort <id>`: no further step runs; what is done stays. */
export async function abort(workflowId: string, options: { reason?: string }): Promise<number> {
  return send(workflowId, 'abort', options.reason);
}

/** `guardian rollback <id>`: compensations of completed steps run in reverse. */
export async function rollback(workflowId: string, options: { reason?: string }): Promise<number> {
  return send(workflowId, 'rollback', options.reason);
}
