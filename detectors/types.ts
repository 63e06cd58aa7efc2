import type { Finding } from '../lib/modes.js';

export type { Finding };

/** Receives what detectors find. */
export type ReportFinding = (finding: Finding) => void;

/** A lightweight observer of one failure mode. Imports nothing from Temporal. */
export interface Detector {
  readonly name: string;
  start(report: ReportFinding): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** One log line of the guarded service: parsed JSON when the line is JSON, else only `text`. */
export interface LogLine {
  readonly text: string;
  readonly json?: Record<string, unknown>;
  /** When the tailer read it (epoch ms). */
  readonly readAt: number;
  /** The log file it came from. */
  readonly file?: string;
  /** Its line number in that file (1-based), when known. */
  readonly lineNumber?: number;
}

/** A supervised process's exits, as the lifecycle detectors listen to them. */
export interface ProcessExits {
  on(
    event: 'exit',
    listener: (code: number | undefined, signal: string | undefined, expected: boolean) => void,
  ): unknown;
  off(
    event: 'exit',
    listener: (code: number | undefined, signal: string | undefined, expected: boolean) => void,
  ): unknown;
}
