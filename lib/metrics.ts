import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Finding } from '../workflows/definitions.js';
import type { Ledger } from './ledger.js';
import { MODES } from './modes.js';
import { OVERRIDE_KINDS, type Override } from './overrides.js';

/** Outcomes that end an incident; each is counted once per workflow run. */
const FINAL = new Set(['healed', 'aborted', 'rolled-back', 'failed', 'flapping', 'observed']);

/** What the gauges read when Prometheus scrapes. */
export interface MetricsSources {
  readonly ledger: Ledger;
  /** The lasting overrides in force now (offline mode, open circuits, a moved port …). */
  overrides(): Promise<readonly Override[]>;
}

/**
 * Guardian's Prometheus metrics, in a registry of their own: incidents by mode and outcome, MTTR,
 * detector lag, paused and held resources, degraded states. Incident counts and MTTR are read from
 * the ledger at each scrape (every workflow run once), so nothing in the workflows feeds them.
 */
export class GuardianMetrics {
  readonly registry = new Registry();
  private readonly counted = new Set<string>();
  private since: number;
  private readonly incidents: Counter<'mode' | 'outcome'>;
  private readonly mttr: Histogram<'mode'>;
  private readonly lag: Histogram<'mode'>;

  constructor(
    private readonly sources: MetricsSources,
    now = Date.now(),
  ) {
    this.since = now;
    const registers = [this.registry];
    this.incidents = new Counter({
      name: 'guardian_incidents_total',
      help: 'Incidents that ended, by failure mode and outcome',
      labelNames: ['mode', 'outcome'],
      registers,
    });
    this.mttr = new Histogram({
      name: 'guardian_mttr_seconds',
      help: 'Time from detection to verified health of healed incidents',
      labelNames: ['mode'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
      registers,
    });
    this.lag = new Histogram({
      name: 'guardian_detector_lag_seconds',
      help: 'Time from the failure being observed (a log line, an event, a poll) to its finding reaching the incident starter',
      labelNames: ['mode'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const countClosed = () => this.countClosed();
    new Gauge({
      name: 'guardian_paused_resources',
      help: 'Mode+resource pairs whose automatic remediation flap protection paused, by mode',
      labelNames: ['mode'],
      registers,
      collect() {
        setByLabel(
          this,
          'mode',
          MODES,
          sources.ledger.pauses().map((p) => p.mode),
        );
      },
    });
    new Gauge({
      name: 'guardian_held_resources',
      help: 'Mode+resource pairs an operator put on hold (by rollback or guardian hold), by mode',
      labelNames: ['mode'],
      registers,
      collect() {
        setByLabel(
          this,
          'mode',
          MODES,
          sources.ledger.holds.list().map((h) => h.mode),
        );
      },
    });
    new Gauge({
      name: 'guardian_degraded_states',
      help: 'Lasting overrides in force (offline mode, open circuit, disabled endpoint, boot chunk, low-memory mode, concurrency limit, unloaded models, moved port), by kind',
      labelNames: ['kind'],
      registers,
      async collect() {
        setByLabel(
          this,
          'kind',
          OVERRIDE_KINDS,
          (await sources.overrides()).map((o) => o.kind),
        );
      },
    });
    new Gauge({
      name: 'guardian_incidents_open',
      help: 'Incidents recorded as still healing',
      registers,
      collect() {
        countClosed();
        this.set(sources.ledger.incidents({ limit: 1000 }).filter((r) => r.outcome === 'healing').length);
      },
    });
  }

  /** Records how long a finding took from observation to the starter. */
  observeFinding(finding: Finding, now = Date.now()): void {
    const seen = finding.observedAt ?? finding.detectedAt;
    this.lag.observe({ mode: finding.mode }, Math.max(0, now - seen) / 1000);
  }

  /** The exposition text Prometheus scrapes. */
  async text(): Promise<string> {
    this.countClosed();
    return this.registry.metrics();
  }

  /** Counts each incident run that reached a final outcome since the last look, once. */
  private countClosed(): void {
    const rows = this.sources.ledger.db
      .prepare(
        `SELECT workflow_id, run_id, mode, outcome, mttr_ms, updated_at FROM incidents
         WHERE updated_at >= ? ORDER BY updated_at`,
      )
      .all(this.since - 1000) as {
      workflow_id: string;
      run_id: string;
      mode: string;
      outcome: string;
      mttr_ms: number | null;
      updated_at: number;
    }[];
    for (const row of rows) {
      this.since = Math.max(this.since, row.updated_at);
      const key = `${row.workflow_id}/${row.run_id}`;
      if (!FINAL.has(row.outcome) || this.counted.has(key)) continue;
      this.counted.add(key);
      this.incidents.inc({ mode: row.mode, outcome: row.outcome });
      if (row.outcome === 'healed' && row.mttr_ms !== null) this.mttr.observe({ mode: row.mode }, row.mttr_ms / 1000);
    }
  }
}

/**
 * Sets one sample per value of `label`: every known value, 0 when nothing has it, so a series never
 * vanishes when its state ends (a vanished series reads as "no data", not as "back to normal"). The
 * labels are modes or override kinds, never resources, so the series stay few and bounded. A
 * value outside the known ones (a hold an older Guardian placed) is counted under its own label.
 */
function setByLabel<L extends string>(
  gauge: Gauge<L>,
  label: L,
  known: readonly string[],
  values: readonly string[],
): void {
  const counts = new Map<string, number>(known.map((k) => [k, 0]));
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  gauge.reset();
  for (const [value, count] of counts) gauge.set({ [label]: value } as Partial<Record<L, string>>, count);
}
