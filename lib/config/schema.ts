import { z } from 'zod';
import { credentialSchema, egressSchema, networkSchema } from './outside.js';
import { bootSchema, livenessSchema, memoryLimitSchema, modelServerSchema, restartSchema } from './lifecycle.js';
import { metricsSchema, remediateSchema } from './operators.js';
import { diskSchema, memorySchema, watchedConfigSchema } from './resources.js';
import { retentionSchema, scrubSchema } from './retention.js';
import { duration, durationOrZero, port, safeName } from './units.js';

const serviceSchema = z
  .object({
    name: safeName.default('service').meta({ examples: ['grace'] }),
    command: z
      .string()
      .min(1)
      .meta({ description: 'Executable to run (no shell)', examples: ['node', 'python3'] }),
    args: z
      .array(z.string())
      .default([])
      .meta({ examples: [['examples/grace/server.mjs']] }),
    cwd: z.string().optional().meta({ description: 'Working directory, relative to guardian.yaml' }),
    env: z.record(z.string(), z.string()).default({}),
    port: z
      .object({
        preferred: port,
        range: z.tuple([port, port]).meta({ examples: [[8000, 8100]] }),
      })
      .refine((p) => p.range[0] <= p.preferred && p.preferred <= p.range[1], {
        message: 'preferred must lie inside range',
      }),
    health: z
      .object({
        path: z.string().default('/guardian/health'),
        timeout: duration.default(2000),
      })
      .prefault({}),
    controlPath: z.string().default('/guardian/control').meta({ description: 'Base path of the control hooks' }),
    log: z
      .string()
      .optional()
      .meta({ description: "The service's log file that detectors read", examples: ['var/logs/grace.log'] }),
    stopTimeout: duration.default(5000),
    clientConfigs: z
      .array(z.object({ path: z.string(), key: z.string().meta({ examples: ['grace.port'] }) }))
      .default([])
      .meta({ description: 'YAML/JSON files whose key holds the service port; kept in step when the port moves' }),
    boot: bootSchema.prefault({}),
    liveness: livenessSchema.prefault({}),
    restart: restartSchema.prefault({}),
    memoryLimit: memoryLimitSchema,
  })
  .meta({ description: 'The guarded service, started and supervised by Guardian' });

const databaseSchema = z.object({
  name: safeName.meta({ examples: ['world_model'] }),
  path: z
    .string()
    .min(1)
    .meta({ examples: ['var/databases/world_model.db'] }),
  backups: z
    .object({
      every: duration.prefault('5m'),
      keep: z.number().int().min(1).max(100).default(5),
    })
    .prefault({}),
});

const incidentsSchema = z
  .object({
    rollbackWindow: durationOrZero.prefault('15m'),
    flap: z.object({ limit: z.number().int().min(1).default(5), window: duration.prefault('10m') }).prefault({}),
    reminderInterval: duration.prefault('1h').meta({
      description:
        'While a paused or held resource keeps failing: one reminder alert per interval (after the one escalation alert)',
    }),
  })
  .prefault({});

const alertsSchema = z
  .object({
    file: z
      .string()
      .optional()
      .meta({ description: 'JSON-lines file alerts are appended to (default: stateDir/alerts.log)' }),
    webhook: z.url().optional().meta({ description: 'URL that receives each alert as a JSON POST' }),
  })
  .prefault({});

const detectorsSchema = z
  .object({
    interval: duration.default(1000).meta({ description: 'How often pollers tick' }),
    sweep: duration
      .default(15_000)
      .meta({ description: 'Period of the full sweep under the file watches (database-corruption)' }),
  })
  .prefault({});

/** The schema of guardian.yaml: everything Guardian guards and how. */
export const guardianConfigSchema = z
  .object({
    host: z
      .string()
      .optional()
      .meta({ description: 'Host name used in task queue and workflow IDs (default: os.hostname())' }),
    stateDir: z.string().default('.guardian').meta({ description: 'Ledger, backups, quarantine and registries' }),
    taskQueue: z.string().optional().meta({ description: 'Override the task queue (default guardian@<host>)' }),
    incidents: incidentsSchema,
    alerts: alertsSchema,
    detectors: detectorsSchema,
    service: serviceSchema.optional(),
    databases: z.array(databaseSchema).default([]),
    modelServer: modelServerSchema.optional(),
    memory: memorySchema.prefault({}),
    disk: diskSchema.optional(),
    configs: z
      .array(watchedConfigSchema)
      .default([])
      .meta({ description: 'Configuration files restored when missing or bad' }),
    egress: egressSchema.prefault({}),
    credentials: z
      .array(credentialSchema)
      .default([])
      .meta({ description: 'How the egress proxy authenticates; values by reference only' }),
    network: networkSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    retention: retentionSchema.prefault({}),
    scrub: scrubSchema.prefault({}),
    remediate: remediateSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    // Names are IDs (workflow IDs, files, CLI arguments): each must be unique in its list.
    const lists = {
      databases: config.databases,
      configs: config.configs,
      'egress.endpoints': config.egress.endpoints,
      credentials: config.credentials,
    };
    for (const [list, items] of Object.entries(lists)) {
      const seen = new Set<string>();
      items.forEach((item, i) => {
        if (seen.has(item.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [...list.split('.'), i, 'name'],
            message: `"${item.name}" is used twice in ${list}; names must be unique`,
          });
        }
        seen.add(item.name);
      });
    }
    const credentials = new Set(config.credentials.map((c) => c.name));
    config.egress.endpoints.forEach((endpoint, i) => {
      if (endpoint.credential !== undefined && !credentials.has(endpoint.credential)) {
        ctx.addIssue({
          code: 'custom',
          path: ['egress', 'endpoints', i, 'credential'],
          message: `names "${endpoint.credential}", which is not in credentials (${[...credentials].join(', ') || 'none declared'})`,
        });
      }
    });
  });

/** guardian.yaml as written (before defaults). */
export type GuardianConfigInput = z.input<typeof guardianConfigSchema>;
/** guardian.yaml after validation, with defaults applied and paths not yet resolved. */
export type GuardianConfigParsed = z.output<typeof guardianConfigSchema>;
