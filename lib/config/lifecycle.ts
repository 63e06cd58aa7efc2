import { z } from 'zod';
import { duration, safeName, size } from './units.js';

/** `service.boot:` — how long boot and each boot chunk may take, and what to do with a slow chunk. */
export const bootSchema = z
  .object({
    budget: duration
      .default(30_000)
      .meta({ description: 'Longest whole boot; past it the chunk running then is handled as slow' }),
    chunkBudget: duration.default(10_000).meta({ description: 'Budget of a chunk not named under chunks' }),
    chunks: z
      .record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, "_" or "-"'), duration)
      .default({})
      .meta({ description: 'Budget per boot chunk, by name', examples: [{ 'model-warmup': '5s', plugins: '2s' }] }),
    onSlow: z.enum(['defer', 'skip']).default('defer').meta({
      description:
        'defer: a deferrable slow chunk moves to the background, others are skipped; skip: always skip. Critical chunks are never touched.',
    }),
  })
  .meta({ description: 'Boot budgets of the guarded service (slow-boot)' });

/** `service.liveness:` — the health probe that tells a hung service from a live one (service-down). */
export const livenessSchema = z
  .object({
    period: duration.default(1000).meta({ description: 'How often the health route is probed while the process runs' }),
    timeout: duration.default(1000).meta({ description: 'How long one probe may take' }),
    threshold: z
      .number()
      .int()
      .min(1)
      .default(3)
      .meta({ description: 'Failed probes in a row, the process still alive, that make a hang' }),
  })
  .meta({
    description: 'Liveness of the guarded service (service-down)',
    examples: [{ period: '1s', timeout: '1s', threshold: 3 }],
  });

/**
 * `service.restart:` / `modelServer.restart:` — backoff between restarts and the start limit
 * (service-down, model-server-down).
 */
export const restartSchema = z
  .object({
    burst: z
      .number()
      .int()
      .min(1)
      .default(5)
      .meta({ description: 'Restarts allowed within interval; one more is a crash loop, escalated and held' }),
    interval: duration.default(600_000).meta({ description: 'The window restarts are counted in' }),
    backoff: duration
      .default(1000)
      .meta({ description: 'Pause before the second restart in the window (the first is at once); doubles each time' }),
    maxBackoff: duration.default(30_000).meta({ description: 'The longest pause between two restarts' }),
  })
  .meta({ description: 'Restart budget (like systemd StartLimitBurst / StartLimitIntervalSec)' });

/** `modelServer:` — the local model server (Ollama) Guardian starts, watches and restarts. */
export const modelServerSchema = z
  .object({
    name: safeName
      .default('ollama')
      .meta({ description: 'Names the model server in incidents and the process registry' }),
    url: z
      .url()
      .default('http://127.0.0.1:11434')
      .meta({
        description: "Base URL of Ollama's HTTP API; also passed to the service as OLLAMA_HOST",
        examples: ['http://127.0.0.1:11434'],
      }),
    command: z
      .string()
      .min(1)
      .default('ollama')
      .meta({ description: 'Executable to run (no shell)', examples: ['ollama', 'node'] }),
    args: z
      .array(z.string())
      .default(['serve'])
      .meta({ examples: [['serve'], ['examples/ollama-standin/serve.mjs']] }),
    cwd: z.string().optional().meta({ description: 'Working directory, relative to guardian.yaml' }),
    env: z
      .record(z.string(), z.string())
      .default({})
      .meta({ description: 'Extra environment (OLLAMA_HOST is set from url unless given here)' }),
    supervise: z
      .boolean()
      .default(true)
      .meta({ description: 'Start the model server with Guardian when nothing answers at url' }),
    startTimeout: duration
      .default(10_000)
      .meta({ description: 'How long a start may take before /api/version answers' }),
    probeTimeout: duration.default(2000).meta({ description: 'Timeout of the /api/version probe' }),
    recheckAfter: duration.default(30_000).meta({
      description: 'After a recovery that failed, how long until the next attempt (doubling up to 5 minutes)',
    }),
    stopTimeout: duration.default(5000),
    restart: restartSchema.prefault({}),
  })
  .meta({ description: 'The local model server (model-server-down)' });

/** `service.liveness:` after validation. */
export type LivenessSettings = z.output<typeof livenessSchema>;
/** `service.restart:` / `modelServer.restart:` after validation. */
export type RestartSettings = z.output<typeof restartSchema>;
/** A memory limit Guardian sets on the service (a cgroup of its own), in bytes. */
export const memoryLimitSchema = size.optional().meta({
  description:
    'Memory limit Guardian sets on the service through a cgroup of its own; past it the kernel kills the service (service-down names the OOM kill)',
  examples: ['512MB'],
});
/** `modelServer:` after validation. */
export type ModelServerSettings = z.output<typeof modelServerSchema>;
/** `service.boot:` after validation. */
export type BootSettings = z.output<typeof bootSchema>;
