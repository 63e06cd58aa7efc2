import { type Client, WorkflowFailedError } from '@temporalio/client';
import { loadConfig, type GuardianConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { connectClient } from '../../lib/temporal.js';
import { type ClearInput, type ClearResult, clearOverride } from '../../workflows/clear-override.js';
import { MODES, type Mode } from '../../workflows/definitions.js';

/** Modes whose remediation can leave a lasting override, and what names their resources. */
const CLEARABLE: Partial<Record<Mode, string>> = {
  'network-unreachable': 'network',
  'api-timeout': 'an egress endpoint',
  'invalid-credentials': 'an egress endpoint',
  'slow-boot': 'a boot chunk',
  'out-of-memory': 'the service',
  'model-server-down': 'the model server',
  'port-in-use': 'the service',
  'service-down': 'the service',
};

/**
 * `guardian clear <mode> <resource>`: ends the lasting override a remediation left in force, by
 * running the clear-override workflow on this host's Guardian (it holds the control token and the
 * service). Prints what was ended.
 */
export async function clear(mode: string, resource: string, options: { config: string }): Promise<number> {
  const config = loadConfig(options.config);
  const input = clearInput(config, mode, resource);
  const client = await connectClient();
  try {
    await requireWorker(client, config);
    const result = await clearOnGuardian(client, config, input);
    process.stdout.write(`Cleared ${mode} on ${resource}: ${result.done.join('; ')}.\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    let cause: unknown = err.cause;
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    process.stderr.write(
      `guardian: could not clear ${mode} on ${resource}: ${cause instanceof Error ? cause.message : String(cause)}\n`,
    );
    return 1;
  } finally {
    await client.connection.close();
  }
}

/** Runs the clear-override workflow on the host's Guardian and resolves with what it ended. */
export function clearOnGuardian(client: Client, config: GuardianConfig, input: ClearInput): Promise<ClearResult> {
  return client.workflow.execute(clearOverride, {
    taskQueue: config.taskQueue,
    workflowId: `clear:${config.host}:${input.mode}:${input.resource}`,
    args: [input],
    workflowExecutionTimeout: '2m',
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/** Checks the arguments against guardian.yaml and builds the workflow's input. */
export function clearInput(config: GuardianConfig, mode: string, resource: string): ClearInput {
  if (!MODES.includes(mode as Mode)) throw new UsageError(`unknown mode "${mode}"; modes are: ${MODES.join(', ')}`);
  const known = mode as Mode;
  const names = CLEARABLE[known];
  if (names === undefined) {
    throw new UsageError(
      `${mode} leaves no lasting override; modes that do: ${Object.keys(CLEARABLE).join(', ')}. See them with: guardian status`,
    );
  }
  const endpoint = config.egress.endpoints.find((e) => e.name === resource);
  if (names === 'an egress endpoint' && !endpoint) {
    throw new UsageError(
      `"${resource}" is not an egress endpoint in ${config.file}; endpoints: ${config.egress.endpoints.map((e) => e.name).join(', ') || 'none'}`,
    );
  }
  if (names === 'the service' && config.service?.name !== resource) {
    throw new UsageError(
      `"${resource}" is not the service in ${config.file} (${config.service?.name ?? 'none declared'})`,
    );
  }
  if (names === 'the model server' && config.modelServer?.name !== resource) {
    throw new UsageError(
      `"${resource}" is not the model server in ${config.file} (${config.modelServer?.name ?? 'none declared'})`,
    );
  }
  return {
    mode: known,
    resource,
    service: config.service !== undefined,
    ...(endpoint ? { normalTimeoutMs: endpoint.timeouts[0] ?? 30_000 } : {}),
    ...(known === 'out-of-memory' ? { features: config.memory.lowMemory.disableFeatures } : {}),
  };
}

/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW */
const TASK_QUEUE_TYPE_WORKFLOW = 1;

/** Fails at once, saying what to do, when no Guardian polls this host's task queue. */
async function requireWorker(client: Client, config: GuardianConfig): Promise<void> {
  const answer = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: config.taskQueue },
    taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
  });
  if ((answer.pollers ?? []).length === 0) {
    throw new UsageError(
      `no Guardian is running for host ${config.host} (nothing polls ${config.taskQueue}); start it with: guardian up --config ${config.file}`,
    );
  }
}
