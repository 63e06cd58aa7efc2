import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { UsageError } from '../../lib/errors.js';
import { connectClient } from '../../lib/temporal.js';
import { workflowBundle } from '../../lib/workflow-bundle.js';

/** `guardian export <id> <file>`: writes the event history as JSON. */
export async function exportHistory(workflowId: string, file: string, options: { runId?: string }): Promise<number> {
  const client = await connectClient();
  try {
    const history = await client.workflow.getHandle(workflowId, options.runId).fetchHistory();
    await writeFile(file, historyToJSON(history));
    process.stdout.write(`Wrote ${history.events?.length ?? 0} events of ${workflowId} to ${file}\n`);
    return 0;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UsageError(`no workflow "${workflowId}" on the server`);
    throw err;
  } finally {
    await client.connection.close();
  }
}

/** `guardian replay <file|id>`: replays a history against the current workflow code. */
export async function replay(source: string, options: { json?: boolean }): Promise<number> {
  let history: unknown;
  let workflowId = source;
  if (existsSync(source)) {
    try {
      history = historyFromJSON(JSON.parse(await readFile(source, 'utf8')));
    } catch (err) {
      throw new UsageError(
        `${source} is not a Temporal history JSON file (${(err as Error).message}); write one with guardian export`,
      );
    }
    workflowId = source;
  } else {
    const client = await connectClient();
    try {
      history = await client.workflow.getHandle(source).fetchHistory();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new UsageError(`"${source}" is neither a file nor a workflow on the server`);
      throw err;
    } finally {
      await client.connection.close();
    }
  }
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') }); // the replay worker's lifecycle is noise here
  } catch {
    // A runtime exists already: keep it.
  }
  try {
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
  } catch (err) {
    const message = (err as Error).message;
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: false, source, error: message })}\n`);
    else process.stdout.write(`Replay of ${source} FAILED: ${message}\n`);
    return 1;
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ ok: true, source })}\n`);
  else process.stdout.write(`Replay of ${source} is deterministic against the current code.\n`);
  return 0;
}
