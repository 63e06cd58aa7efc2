import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  type ModelServer,
  ModelServerExitedError,
  ModelServerMissingError,
  ModelServerPortTakenError,
  type StartAction,
} from '../lib/model-server.js';
import { ControlHookError } from '../lib/service-control.js';
import { beat } from '../lib/heartbeat.js';
import type { ActivityDeps } from './deps.js';
import { spendRestart } from './restart-budget.js';
import { FailureType } from '../lib/failures.js';

/** Model-server activities: switch the service's AI feature, start the model server and wait for its API, verify. */
export function createModelServerActivities({
  config,
  modelServer,
  control,
  registry,
  logger,
}: Pick<ActivityDeps, 'config' | 'modelServer' | 'control' | 'registry' | 'logger'>) {
  const service = config.service?.name ?? 'service';
  const need = (): ModelServer => {
    if (!modelServer)
      throw ApplicationFailure.nonRetryable(`${config.file} declares no modelServer`, FailureType.NoModelServer);
    return modelServer;
  };

  return {
    /**
     * Switches a feature of the service (`feature` control hook) and remembers in the registry
     * whether Guardian switched it off, so a later incident knows to switch it on again even when
     * an earlier one left it off. A service that is not running cannot be degraded and needs not
     * be: `applied` says whether the hook ran; `byGuardian` whether Guardian had switched it off.
     */
    async setServiceFeature({
      name,
      enabled,
    }: {
      name: string;
      enabled: boolean;
    }): Promise<{ applied: boolean; previous: boolean | null; byGuardian: boolean }> {
      const byGuardian = registry?.featureDegraded(service, name) ?? false;
      if (!control) return { applied: false, previous: null, byGuardian };
      let previous: boolean;
      try {
        previous = (await control.call<{ previous: boolean }>('feature', { name, enabled })).previous;
      } catch (err) {
        if (err instanceof ControlHookError && err.status === undefined)
          return { applied: false, previous: null, byGuardian };
        throw err;
      }
      if (enabled) registry?.clearFeatureDegraded(service, name);
      else if (previous || byGuardian)
        registry?.markFeatureDegraded(service, name, Context.current().info.workflowExecution?.workflowId ?? null);
      return { applied: true, previous, byGuardian };
    },

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
