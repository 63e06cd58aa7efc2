import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { memoryProblems, sampleMemory } from '../lib/memory.js';
import { type MemoryRelief, MemoryReliefBook } from '../lib/memory-relief.js';
import type { ActivityDeps } from './deps.js';
import { type HookBefore, readHookBefore, withJournaledPrevious } from '../lib/hook-before.js';
import { oncePerStep } from '../lib/step-state.js';
import { stillShort } from '../lib/failures.js';

/** Memory after a step: healthy or not, and what is still over. */
export interface MemoryCheck {
  healthy: boolean;
  problems: string[];
  usedPercent: number;
  /** Largest RSS among the service's processes. */
  maxRss: number;
}

/** What a relief step did, and the memory after it. */
export interface ReliefResult extends MemoryCheck {
  /** The control hook's reply (it says what was there before, for the undo). */
  reply?: Record<string, unknown>;
}

/**
 * Memory activities for out-of-memory: measure, relieve through the service's control hooks,
 * unload the model server's models, wait for memory to come down.
 */
export function createMemoryActivities({
  config,
  control,
  service,
  ledger,
}: Pick<ActivityDeps, 'config' | 'control' | 'service'> & Partial<Pick<ActivityDeps, 'ledger'>>) {
  const book = ledger && new MemoryReliefBook(ledger.db);
  const pids = (): number[] => {
    const pid = service?.supervisor.running?.pid;
    return pid === undefined ? [] : [pid];
  };
  const check = async (): Promise<MemoryCheck> => {
    const sample = await sampleMemory(pids());
    const problems = memoryProblems(sample, config.memory);
    return {
      healthy: problems.length === 0,
      problems,
      usedPercent: Math.round(sample.usedPercent * 10) / 10,
      maxRss: Math.max(0, ...sample.processes.map((p) => p.rss)),
    };
  };
  /** Memory is released asynchronously (a collection frees buffers behind it): poll briefly. */
  const settle = async (settleMs: number): Promise<MemoryCheck> => {
    const deadline = Date.now() + settleMs;
    let last = await check();
    while (!last.healthy && Date.now() < deadline) {
      if (!Context.current().info.isLocal) Context.current().heartbeat(last.problems.join('; '));
      await sleep(50, undefined, { signal: Context.current().cancellationSignal });
      last = await check();
    }
    return last;
  };
  const modelServerUrl = (): string | undefined => {
    const raw = config.memory.modelServer ?? config.modelServer?.url ?? config.service?.env.OLLAMA_HOST;
    if (!raw) return undefined;
    return (/^https?:\/\//.test(raw) ? raw : `http://${raw}`).replace(/\/+$/, '');
  };
  const ollama = async (path: string, body?: unknown): Promise<unknown> => {
    const url = modelServerUrl();
    if (!url) return undefined;
    const res = await fetch(`${url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`model server ${path} answered ${res.status}`);
    return res.json();
  };

  return {
    /**
     * Measures memory against guardian.yaml's thresholds. As a step, once: a re-run (a replay after
     * Guardian died) returns the first measurement, so the replay takes the path the first run took.
     */
    async checkMemory(): Promise<MemoryCheck> {
      return oncePerStep(config.stateDir, check);
    },

    /**
     * Calls one memory control hook of the service (clear-caches, release-memory, set-concurrency,
     * flush-logs, low-memory-mode, feature), then measures, waiting up to `settleMs` for memory
     * to come down. Without a service, only measures. A lasting change (concurrency, low-memory
     * mode, a feature off) is noted with the value before it; `undo` marks the call that puts a
     * noted value back. Once per step: the value the hook will change is read from the health
     * route and journaled before the call (the reply's `previous`, which a rollback puts back,
     * comes from there), and a re-run returns the first result, measurement included, so a replay
     * takes the path the first run took.
     */
    async relieveMemory({
      action,
      body = {},
      settleMs = 500,
      undo = false,
    }: {
      action: string;
      body?: Record<string, unknown>;
      settleMs?: number;
      undo?: boolean;
    }): Promise<ReliefResult> {
      return oncePerStep(
        config.stateDir,
        async (before: HookBefore) => {
          const reply = control ? withJournaledPrevious(await control.call(action, body), before) : undefined;
          if (book && reply) noteRelief(book, action, body, reply, undo);
          return { ...(await settle(settleMs)), ...(reply ? { reply } : {}) };
        },
        async () => (control ? readHookBefore(control, action, body) : {}),
      );
    },

    /** The memory relief in force, oldest first, each with what was there before it. */
    async memoryReliefInForce(): Promise<MemoryRelief[]> {
      return book?.list() ?? [];
    },

    /**
     * Unloads the models the model server holds in memory (Ollama: `keep_alive: 0`). A model
     * server that does not answer has nothing loaded to unload: that is not a failure.
     */
    async unloadModels({ settleMs = 500 }: { settleMs?: number } = {}): Promise<ReliefResult & { models: string[] }> {
      // The models unloaded are what a rollback loads again: a re-run must not report none.
      // They are listed (and journaled) before any is unloaded, so a crash in between keeps the list;
      // the measurement after is part of the first result, so a replay takes the same path.
      return oncePerStep(
        config.stateDir,
        async (models: string[]) => {
          for (const model of models) await ollama('/api/generate', { model, keep_alive: 0 });
          book?.unloaded(models);
          return { ...(await settle(settleMs)), models };
        },
        async () => {
          try {
            const ps = (await ollama('/api/ps')) as { models?: { name?: string; model?: string }[] } | undefined;
            return (ps?.models ?? []).map((m) => m.model ?? m.name ?? '').filter(Boolean);
          } catch {
            return [];
          }
        },
      );
    },

    /** Rollback of {@link unloadModels}: loads the models again. */
    async reloadModels({ models }: { models: string[] }): Promise<{ loaded: string[] }> {
      for (const model of models) await ollama('/api/generate', { model });
      book?.reloaded(models);
      return { loaded: models };
    },

    /** Waits up to `timeoutMs` for memory to be under every threshold; returns when it was. */
    async waitForMemory({ timeoutMs }: { timeoutMs: number }): Promise<{ healthyAt: number; detail?: string }> {
      const last = await settle(timeoutMs);
      if (!last.healthy) {
        throw stillShort(
          'memory',
          `over its thresholds after ${timeoutMs} ms: ${last.problems.join('; ')}`,
          'stop what holds memory by hand',
        );
      }
      return { healthyAt: Date.now() };
    },
  };
}

/** Notes a lasting change of a control hook in the book, or its undo. */
function noteRelief(
  book: MemoryReliefBook,
  action: string,
  body: Record<string, unknown>,
  reply: Record<string, unknown>,
  undo: boolean,
): void {
  const { previous } = reply;
  if (action === 'set-concurrency' && typeof body.limit === 'number') {
    if (undo) book.restored('concurrency', '', body.limit);
    else if (typeof previous === 'number') book.changed('concurrency', '', previous);
  } else if (action === 'low-memory-mode' && typeof body.enabled === 'boolean') {
    if (undo) book.restored('low-memory-mode', '', body.enabled);
    else if (body.enabled) book.changed('low-memory-mode', '', typeof previous === 'boolean' ? previous : false);
  } else if (action === 'feature' && typeof body.name === 'string' && typeof body.enabled === 'boolean') {
    if (undo) book.restored('feature', body.name, body.enabled);
    else if (!body.enabled) book.changed('feature', body.name, typeof previous === 'boolean' ? previous : true);
  }
}
