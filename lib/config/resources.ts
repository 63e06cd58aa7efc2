import { z } from 'zod';
import { duration, safeName, size } from './units.js';

const percent = z.number().min(1).max(100);
const dirList = z.array(z.string().min(1)).default([]);

/** `memory:` — out-of-memory thresholds and what low-memory mode turns down. */
export const memorySchema = z
  .object({
    systemPercent: percent.default(95).meta({ description: 'System memory used above this (%) is an incident' }),
    swapPercent: percent
      .default(80)
      .meta({ description: 'Swap used above this (%) is an incident (ignored without swap)' }),
    rss: size
      .prefault('4GB')
      .meta({ description: "Resident memory limit of each of the service's processes", examples: ['4GB', '512MB'] }),
    interval: duration.optional().meta({ description: 'How often memory is sampled (default: detectors.interval)' }),
    settle: duration.default(5000).meta({ description: 'How long the last check waits for memory to come down' }),
    modelServer: z
      .url()
      .optional()
      .meta({ description: "Ollama's base URL, to unload idle models (default: the service's OLLAMA_HOST)" }),
    lowMemory: z
      .object({
        concurrency: z
          .number()
          .int()
          .min(1)
          .max(1024)
          .default(2)
          .meta({ description: 'Concurrency limit while memory is short' }),
        disableFeatures: z
          .array(z.string())
          .default(['snapshots'])
          .meta({ description: 'Non-essential features switched off in low-memory mode' }),
      })
      .prefault({}),
  })
  .meta({ description: 'Out-of-memory detection and remediation' });

/** `disk:` — the guarded directories, by what may be done to their files, and the free-space threshold. */
export const diskSchema = z
  .object({
    minFree: size
      .prefault('100MB')
      .meta({ description: 'Free space under this on a guarded filesystem is an incident', examples: ['100MB'] }),
    logs: z
      .object({ dirs: dirList, olderThan: duration.prefault('7d') })
      .prefault({})
      .meta({ description: 'Log directories: files older than olderThan are compressed (gzip)' }),
    snapshots: z
      .object({ dirs: dirList, keep: z.number().int().min(1).default(10) })
      .prefault({})
      .meta({ description: 'Snapshot directories: the oldest beyond the newest `keep` are removed' }),
    temp: z
      .object({ dirs: dirList, olderThan: duration.prefault('10m') })
      .prefault({})
      .meta({ description: 'Temporary directories: files older than olderThan are removed' }),
    artifacts: z
      .object({ dirs: dirList })
      .prefault({})
      .meta({ description: 'Artifact directories: moved, oldest first, to secondary storage when still short' }),
    watch: dirList.meta({ description: 'More directories whose filesystem is watched; nothing in them is touched' }),
    secondary: z.string().optional().meta({
      description:
        'Secondary storage: artifacts move here, and removed files go to its trash so a rollback can restore them',
    }),
  })
  .meta({ description: 'Disk-full detection and cleanup' });

/** One entry of `configs:` — a configuration file Guardian restores when it goes missing or bad. */
export const watchedConfigSchema = z.object({
  name: safeName.meta({ examples: ['governance_policies'] }),
  path: z
    .string()
    .min(1)
    .meta({ examples: ['var/config/governance_policies.yaml'] }),
  schema: z.string().optional().meta({ description: 'JSON Schema (JSON or YAML file) the file must pass' }),
  defaults: z
    .string()
    .optional()
    .meta({ description: 'File with the embedded defaults, written when no valid backup exists' }),
  keep: z.number().int().min(1).max(1000).default(20).meta({ description: 'Valid versions Guardian keeps' }),
  rollback: z.enum(['original', 'merge']).default('original').meta({
    description: "On rollback: put the user's file back exactly, or merge it over the defaults when it parses",
  }),
  reload: z.boolean().default(true).meta({ description: 'Ask the service to reload it (control hook reload-config)' }),
});

export type MemorySettings = z.output<typeof memorySchema>;
export type DiskSettings = z.output<typeof diskSchema>;
export type WatchedConfig = z.output<typeof watchedConfigSchema>;
