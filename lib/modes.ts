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
] as const;

/** One failure mode id. */
export type Mode = (typeof MODES)[number];

/** Whether `name` is a failure mode id. */
export function isMode(name: string): name is Mode {
  return (MODES as readonly string[]).includes(name);
}

/** What a detector saw: the start of an incident. */
export interface Finding {
  readonly mode: Mode;
  /** The guarded thing that failed: a database name, a port, an endpoint name … */
  readonly resource: string;
  /** A short human-readable account of what was seen (never a secret). */
  readonly evidence: string;
  /** The detector's clock (epoch ms) when it saw the failure. */
  readonly detectedAt: number;
  /** When the source recorded the failure, if earlier (e.g. a log line's own timestamp). */
  readonly observedAt?: number;
}
