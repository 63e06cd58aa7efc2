import { z } from 'zod';
import { duration, safeName } from './units.js';

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
  })
  .meta({ description: 'The local model server (model-server-down)' });

/** `modelServer:` after validation. */
export type ModelServerSettings = z.output<typeof modelServerSchema>;
/** `service.boot:` after validation. */
export type BootSettings = z.output<typeof bootSchema>;
