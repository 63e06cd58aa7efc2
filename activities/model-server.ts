import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  type ModelServer,
  ModelServerExitedError,
  ModelServerMissingError,
  ModelServerPortTakenError,
  type StartAction,
} from '../lib/model-server.js';
import { beat } from '../lib/heartbeat.js';
import type { ActivityDeps } from './deps.js';
import { spendRestart } from './restart-budget.js';
import { FailureType } from '../lib/failures.js';

/** Model-server activities: start the model server and wait for its API, verify (the AI feature's switch is in service-feature.ts). */
export function createModelServerActivities({
  config,
  modelServer,
  control,
  logger,
}: Pick<ActivityDeps, 'config' | 'modelServer' | 'control' | 'logger'>) {
  const need = (): ModelServer => {
    if (!modelServer)
      throw ApplicationFailure.nonRetryable(`${config.file} declares no modelServer`, FailureType.NoModelServer);
    return modelServer;
  };

  return {
    /**
     * Starts the model server in the background (or restarts ours when it stopped answering) and
     * waits up to `timeoutMs` for `GET /api/version`. A start spends the restart budget, counted
     * once per `key` (a retry of the step counts nothing more). A missing command, a port held by
     * someone else's process or a refused budget is final, with instructions; a process that exits
     * before its API answers fails at once (`ExitedWhileStarting`: the workflow spends the budget
     * on the next start); anything else is retried with backoff.
     */
    async startModelServer({
      key,
      cause,
      timeoutMs,
    }: {
      key: string;
      cause: string;
      timeoutMs: number;
    }): Promise<{ action: StartAction; pid: number | null; version: string; readyAt: number }> {
      const server = need();
      let started: { action: StartAction; pid?: number };
      try {
        started = await server.ensureStarted(() => spendRestart(server, { key, cause }));
      } catch (err) {
        if (err instanceof ModelServerMissingError) {
          logger.error({ modelServer: server.name }, err.message);
          throw ApplicationFailure.nonRetryable(err.message, FailureType.ModelServerMissing);
        }
        if (err instanceof ModelServerPortTakenError)
          throw ApplicationFailure.nonRetryable(err.message, FailureType.ModelServerPortTaken);
        throw err;
      }
      const ctx = Context.current();
      const ready = await server
        .waitForApi(timeoutMs, (last) => beat(last), ctx.cancellationSignal, started.pid)
        .catch((err: unknown) => {
          if (err instanceof ModelServerExitedError)
            throw ApplicationFailure.nonRetryable(err.message, FailureType.ExitedWhileStarting);
          throw err;
        });
      return { action: started.action, pid: started.pid ?? null, version: ready.version, readyAt: ready.readyAt };
    },

    /** Confirms the model server answers and, with a service, that its AI feature is on again. */
    async verifyModelServer({
      serviceConnected,
    }: {
      serviceConnected: boolean;
    }): Promise<{ healthyAt: number; detail: string }> {
      const server = need();
      const probe = await server.probe();
      if (!probe.ok) throw new Error(`${server.name} does not answer at ${server.url}: ${probe.code} ${probe.message}`);
      let detail = `${server.name} ${probe.version} answers at ${server.url}`;
      if (serviceConnected && control) {
        const health = await control.health().catch(() => undefined);
        if (health?.disabledFeatures?.includes('ai')) throw new Error("the service's AI feature is still switched off");
        // A service that is down is another incident's business; the model server is back either way.
        if (!health) detail += '; the service did not answer, so its AI feature was not checked';
      }
      return { healthyAt: Date.now(), detail };
    },
  };
}
