import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';

/**
 * Runs `fn` once per activity of a workflow run, keyed by run ID and activity ID (which a
 * re-run of the same step keeps): a re-run returns the first run's result instead of acting
 * again. Steps whose result records "what it was before" need this, or a re-run after the first
 * acted would record the new state as the old one and a rollback would restore the wrong thing.
 */
export async function oncePerStep<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return fn(); // called outside an activity (a direct call): nothing can re-run it
  }
  const runId = info.workflowExecution?.runId;
  if (!runId) return fn();
  const dir = join(stateDir, 'step-results', runId);
  const file = join(dir, `${info.activityId.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    // First run of this step.
  }
  const result = await fn();
  await mkdir(dir, { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(result ?? null));
  await rename(`${file}.tmp`, file);
  return result;
}
