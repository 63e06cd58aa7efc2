import { z } from 'zod';
import { duration, size } from './units.js';

const keepCount = (fallback: number, what: string) =>
  z.number().int().min(1).max(1_000_000).default(fallback).meta({ description: what });

/** `retention:` — how much of what Guardian keeps in its state directory it keeps, and for how long. */
export const retentionSchema = z
  .object({
    every: duration.prefault('10m').meta({ description: 'How often retention runs (also at start)' }),
    quarantine: z
      .object({
        keep: keepCount(3, 'Quarantined copies kept per database (the newest is always kept)'),
        maxAge: duration.prefault('7d'),
        maxBytes: size
          .prefault('10GB')
          .meta({ description: 'Total size of quarantined copies; the oldest go first past it' }),
      })
      .prefault({})
      .meta({ description: 'Copies of damaged database files set aside by database-corruption' }),
    runs: z
      .object({
        keep: keepCount(50, 'Run directories kept per kind'),
        maxAge: duration.prefault('7d'),
      })
      .prefault({})
      .meta({
        description: 'Per-incident records: step results, config originals, client-config copies, disk manifests',
      }),
    alertsLog: z
      .object({
        maxBytes: size.prefault('10MB').meta({ description: 'alerts.log is rotated past this size' }),
        keep: keepCount(1, 'Rotated alerts logs kept (alerts.log.1 …)'),
      })
      .prefault({}),
    ledger: z
      .object({
        keep: keepCount(10_000, 'Incidents kept in the ledger (alerts likewise)'),
        maxAge: duration.prefault('90d'),
      })
      .prefault({}),
  })
  .meta({
    description:
      "Retention of Guardian's own state. What an open incident or its rollback window needs is never pruned, nor the newest quarantined copy of each database.",
  });

/** `scrub:` — the background integrity scrub of the guarded databases. */
export const scrubSchema = z
  .object({
    cpuPercent: z.number().min(0).max(100).default(2).meta({
      description: 'Share of one core the scrub may use (0 turns it off); sets how often each database is checked',
    }),
  })
  .meta({ description: 'Background quick_check of every guarded database, within a CPU budget' });

export type RetentionSettings = z.output<typeof retentionSchema>;
export type ScrubSettings = z.output<typeof scrubSchema>;
