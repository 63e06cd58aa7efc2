/**
 * The failure modes and what a detector reports. Free of Temporal, so detectors, the CLI and
 * workflows (as type imports) share one definition.
 */

/** The failure modes, named as everywhere in Guardian (CLI, workflow IDs, files, reports). */
export const MODES = [
  'database-corruption',
  'port-in-use',
  'slow-boot',
  'out-of-memory',
  'disk-full',
  'network-unreachable',
  'api-timeout',
  'missing-config',
  'invalid-credentials',
  'model-server-down',
  'service-down',
] as const;

/** One failure mode id. */
export type Mode = (typeof MODES)[number];

/** Whether `name` is a failure mode id. */
export function isMode(name: string): name is Mode {
  return (MODES as readonly string[]).includes(name);
}

/**
 * What a detector read, structured: where (source, file, line number), what (code, database) and
 * a short redacted excerpt of the outside text — never the raw text.
 */
export interface Evidence {
  /** `service log`, `file watch`, `probe` … */
  readonly source: string;
  readonly code?: string;
  readonly database?: string;
  readonly file?: string;
  readonly line?: number;
  readonly excerpt?: string;
}

/** What a detector saw: the start of an incident. */
export interface Finding {
  readonly mode: Mode;
  /** The guarded thing that failed: a database name, a port, an endpoint name … */
  readonly resource: string;
  /** A short human-readable account of what was seen (never a secret). */
  readonly evidence: string;
  /** The same, structured, when the detector read it from outside text (a log line). */
  readonly details?: Evidence;
  /** The detector's clock (epoch ms) when it saw the failure. */
  readonly detectedAt: number;
  /** When the source recorded the failure, if earlier (e.g. a log line's own timestamp). */
  readonly observedAt?: number;
}
