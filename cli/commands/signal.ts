import { WorkflowNotFoundError } from '@temporalio/client';
import { UsageError } from '../../lib/errors.js';
import { connectClient } from '../../lib/temporal.js';
import { abortSignal, rollbackSignal } from '../../workflows/definitions.js';

async function send(
  workflowId: string,
  which: 'abort' | 'rollback',
  reason: string | undefined,
  force = false,
): Promise<number> {
  const client = await connectClient();
  try {
    const handle = client.workflow.getHandle(workflowId);
    if (which === 'abort') await handle.signal(abortSignal, reason);
    // The options argument only when forced: an older Guardian's workflow reads the reason alone.
    else if (force) await handle.signal(rollbackSignal, reason, { force: true });
    else await handle.signal(rollbackSignal, reason);
    process.stdout.write(
      `Sent ${which}${force ? ' (forced)' : ''} to ${workflowId}. Follow it with: guardian status\n`,
    );
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

/**
 * `guardian rollback <id> [--force]`: compensations of completed steps run in reverse. A step
 * whose data changed since the heal (a database written since) refuses to roll back and says what
 * would be lost; `--force` rolls it back anyway, keeping the live state aside first.
 */
export async function rollback(workflowId: string, options: { reason?: string; force?: boolean }): Promise<number> {
  return send(workflowId, 'rollback', options.reason, options.force === true);
}
