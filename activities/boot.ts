import { ApplicationFailure, Context } from '@temporalio/activity';
import { ControlHookError } from '../lib/service-control.js';
import { requireSupervision, type SupervisionDeps } from './deps.js';
import { waitForHealth } from './health-wait.js';
import { oncePerStep } from '../lib/step-state.js';
import { FailureType } from '../lib/failures.js';

/** A boot chunk as slow-boot sees it. */
export interface ChunkInspection {
  chunk: string;
  /** The chunk's state now: `running` while it still holds boot up. */
  state: 'pending' | 'running' | 'done' | 'skipped' | 'deferred' | 'failed' | 'unknown';
  critical: boolean;
  deferrable: boolean;
  /** The budget Guardian holds the chunk to (guardian.yaml), and the one the service reports. */
  budgetMs: number;
  /** How long it had run when inspected. */
  ranForMs: number;
  bootStatus: 'booting' | 'done';
  bootRanForMs: number;
}

/** Slow-boot activities: read the boot, skip or defer a chunk (and remember it), enable it again, wait for boot. */
export function createBootActivities(deps: SupervisionDeps) {
  const { config } = deps;
  const need = () => requireSupervision(deps);
  const budgetOf = (chunk: string) => config.service?.boot.chunks[chunk] ?? config.service?.boot.chunkBudget ?? 10_000;

  return {
    /**
     * Reads `/guardian/boot` and reports the chunk: its state, whether it is critical or
     * deferrable, how long it has run. `boot` names whichever chunk is running now. Once per step:
     * a re-run (a replay after Guardian died) returns the first reading, so the replay skips or
     * defers the chunk the first run did, and its undo stays on the stack.
     */
    async inspectBootChunk({ chunk }: { chunk: string }): Promise<ChunkInspection> {
      return oncePerStep(config.stateDir, async () => {
        const report = await need().service.bootReport();
        const now = Date.now();
        const found =
          chunk === 'boot'
            ? report.chunks.find((c) => c.state === 'running' && !c.background)
            : report.chunks.find((c) => c.name === chunk);
        const bootRanForMs = report.durationMs ?? now - report.startedAt;
        if (!found) {
          return {
            chunk,
            state: 'unknown',
            critical: false,
            deferrable: false,
            budgetMs: budgetOf(chunk),
            ranForMs: 0,
            bootStatus: report.status,
            bootRanForMs,
          };
        }
        return {
          chunk: found.name,
          state: found.state,
          critical: found.critical,
          deferrable: found.deferrable,
          budgetMs: budgetOf(found.name),
          ranForMs: found.state === 'running' && found.startedAt ? now - found.startedAt : (found.durationMs ?? 0),
          bootStatus: report.status,
          bootRanForMs,
        };
      });
    },

    /**
     * Skips or defers a chunk through the control hook and records it in the registry, so later
     * boots skip or defer it too until it is enabled again. A refusal (critical chunk) is final.
     * Once per step: journaled before the hook is called, the first result returned on a re-run.
     */
    async overrideBootChunk({
      chunk,
      kind,
    }: {
      chunk: string;
      kind: 'skip' | 'defer';
    }): Promise<{ effect: string; state: string }> {
      return oncePerStep(config.stateDir, async () => {
        const { service, registry } = need();
        try {
          const reply = await service.control.call<{ effect: string; state: string }>(`${kind}-chunk`, { chunk });
          registry.setBootOverride(
            service.name,
            chunk,
            kind,
            Context.current().info.workflowExecution?.workflowId ?? null,
          );
          return { effect: reply.effect, state: reply.state };
        } catch (err) {
          if (err instanceof ControlHookError && (err.status === 409 || err.status === 404 || err.status === 400)) {
            throw ApplicationFailure.nonRetryable(err.message, FailureType.ChunkOverrideRefused);
          }
          throw err;
        }
      });
    },

    /** Forgets the skip/defer (the next boot runs the chunk) and tells the running service too. */
    async enableBootChunk({ chunk }: { chunk: string }): Promise<{ wasOverridden: boolean; serviceTold: boolean }> {
      const { service, registry } = need();
      const wasOverridden = registry.clearBootOverride(service.name, chunk);
      try {
        await service.control.call('enable-chunk', { chunk });
        return { wasOverridden, serviceTold: true };
      } catch (err) {
        // Not running: it reads the registry's lists from its environment at the next start anyway.
        if (err instanceof ControlHookError && err.status === undefined) return { wasOverridden, serviceTold: false };
        throw err;
      }
    },

    /** Waits until the service reports boot finished (health no longer `booting`). */
    async waitForBootDone({
      timeoutMs = 10_000,
    }: {
      timeoutMs?: number;
    }): Promise<{ healthyAt: number; detail: string }> {
      const { service } = need();
      return waitForHealth(service.control, {
        timeoutMs,
        judge: (health) => {
          if (health.status === 'booting') return { last: 'still booting' };
          const degraded = health.degradedChunks ?? [];
          return {
            detail: `boot finished (${health.status}${degraded.length > 0 ? `; degraded: ${degraded.join(', ')}` : ''})`,
          };
        },
        timedOut: `${service.name} did not finish booting within ${timeoutMs} ms`,
      });
    },
  };
}
