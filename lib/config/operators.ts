import { z } from 'zod';
import { MODES, type Mode } from '../modes.js';

/** `metrics:` — the Prometheus endpoint. Loopback only: it tells anyone who reads it what is failing. */
export const metricsSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z
      .enum(['127.0.0.1', '::1', 'localhost'])
      .default('127.0.0.1')
      .meta({ description: 'Loopback address to listen on' }),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(9464)
      .meta({
        description:
          'Port of GET /metrics; 0 takes any free port. When the port is taken, a free one is used and written to stateDir/metrics.json',
        examples: [9464],
      }),
  })
  .meta({ description: 'Prometheus metrics on loopback: incidents, MTTR, detector lag, paused/held, degraded states' });

/** `metrics:` after defaults. */
export type MetricsSettings = z.output<typeof metricsSchema>;

/** How far Guardian goes for a failure: heal it, only record the plan, or do nothing. */
export const remediationLevelSchema = z.enum(['auto', 'observe', 'off']);

/** One remediation level. */
export type RemediationLevel = z.output<typeof remediationLevelSchema>;

/**
 * `remediate:` — `auto` (heal), `observe` (run detection, record the concrete plan, change
 * nothing) or `off` (start no workflow): one level for everything, or a default with levels per
 * mode and per `<mode>:<resource>`.
 */
export const remediateSchema = z
  .union([
    remediationLevelSchema,
    z.object({
      default: remediationLevelSchema.default('auto'),
      modes: z
        .partialRecord(z.enum(MODES), remediationLevelSchema)
        .default({})
        .meta({ examples: [{ 'disk-full': 'observe' }] }),
      resources: z
        .record(z.string().regex(/^[a-z-]+:.+$/, 'write it as <mode>:<resource>'), remediationLevelSchema)
        .default({})
        .meta({ description: 'Levels by "<mode>:<resource>"', examples: [{ 'database-corruption:audit': 'off' }] }),
    }),
  ])
  .default('auto')
  .meta({ description: 'auto | observe | off, globally or { default, modes, resources }' });

/** The level for one mode and resource: the resource's, else the mode's, else the default. */
export function remediationLevel(
  remediate: z.output<typeof remediateSchema>,
  mode: Mode,
  resource: string,
): RemediationLevel {
  if (typeof remediate === 'string') return remediate;
  return remediate.resources[`${mode}:${resource}`] ?? remediate.modes[mode] ?? remediate.default;
}
