import { z } from 'zod';

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
