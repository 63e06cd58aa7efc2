import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { WatchedConfig } from '../lib/config/resources.js';
import { type ConfigFileState, inspectConfigFile } from '../lib/config-files.js';
import type { LogTail } from './log-tail.js';
import type { Detector, Finding, LogLine, ReportFinding } from './types.js';

/** Options of {@link createMissingConfigDetector}. */
export interface MissingConfigDetectorOptions {
  configs: readonly WatchedConfig[];
  /** The guarded service's log: its `config.error` lines are findings too. */
  log?: LogTail;
  /** Safety-net poll. @default 1000 */
  intervalMs?: number;
  /** Called with each new valid content seen (Guardian keeps a copy of every valid version). */
  onValid?: (config: WatchedConfig, bytes: Buffer) => void;
  /**
   * How long a bad verdict must hold before it is reported: the file is read again after this
   * delay, and only the same verdict counts (an editor's truncate-then-write save is not damage).
   * @default 1000
   */
  settleMs?: number;
}

/** A `config.error` line of the service, as the detector reads it. */
export interface ConfigLogSignal {
  path: string;
  reason: string;
  message: string;
}

/** Reads a service log line; returns the config problem it reports, if any (docs/contract.md). */
export function classifyConfigLine(line: LogLine): ConfigLogSignal | undefined {
  const json = line.json;
  if (json?.event !== 'config.error' || typeof json.path !== 'string') return undefined;
  return { path: json.path, reason: String(json.reason ?? 'invalid'), message: String(json.msg ?? '').slice(0, 300) };
}

/**
 * Cheap identity of what is at a path (through symbolic links: a linked config is its target):
 * changes when the file is edited, replaced, removed or turned into a directory.
 */
function signatureOf(path: string): string {
  try {
    const st = statSync(path);
    return `${st.isFile() ? 'f' : 'o'}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * missing-config detector. Events first: a watch on each config's directory (a watch on the file
 * itself dies with the file), and the service's `config.error` lines. A poll as a safety net costs
 * one lstat per file; a file is parsed and validated only when its signature changed.
 */
export function createMissingConfigDetector(options: MissingConfigDetectorOptions): Detector {
  const intervalMs = options.intervalMs ?? 1000;
  const settleMs = options.settleMs ?? 1000;
  const seen = new Map<string, { signature: string; state: ConfigFileState; problem?: string; badSince?: number }>();
  const settling = new Map<string, NodeJS.Timeout>();
  const watchers = new Map<string, FSWatcher>();
  let report: ReportFinding = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const finding = (config: WatchedConfig, evidence: string, observedAt?: number): Finding => ({
    mode: 'missing-config',
    resource: config.name,
    evidence,
    detectedAt: Date.now(),
    ...(observedAt === undefined ? {} : { observedAt }),
  });

  /**
   * Judges the file; a bad verdict is reported only once it has held for `settleMs` across a
   * fresh read (`reread` skips the signature shortcut).
   */
  function check(config: WatchedConfig, reread = false): void {
    const signature = signatureOf(config.path);
    let entry = seen.get(config.name);
    if (reread || entry?.signature !== signature) {
      const verdict = inspectConfigFile(config, config.path);
      const same = entry !== undefined && entry.state === verdict.state && entry.problem === verdict.problem;
      entry = {
        signature,
        state: verdict.state,
        ...(verdict.problem ? { problem: verdict.problem } : {}),
        ...(verdict.state === 'ok' ? {} : { badSince: same ? (entry?.badSince ?? Date.now()) : Date.now() }),
      };
      seen.set(config.name, entry);
      if (verdict.state === 'ok' && verdict.bytes) options.onValid?.(config, verdict.bytes);
    }
    if (entry.state === 'ok') return;
    const held = Date.now() - (entry.badSince ?? Date.now());
    if (held >= settleMs) {
      report(finding(config, `${entry.state}: ${entry.problem ?? config.path}`));
      return;
    }
    if (settling.has(config.name)) return;
    const timer = setTimeout(() => {
      settling.delete(config.name);
      check(config, true);
    }, settleMs - held);
    timer.unref();
    settling.set(config.name, timer);
  }

  function arm(config: WatchedConfig): void {
    const dir = dirname(config.path);
    if (watchers.has(dir)) return;
    try {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        for (const c of options.configs) {
          if (dirname(c.path) === dir && (!filename || filename === basename(c.path))) check(c);
        }
      });
      watcher.on('error', () => {
        watcher.close();
        watchers.delete(dir);
      });
      watchers.set(dir, watcher);
    } catch {
      // The directory does not exist (yet): the poll re-arms the watch when it does.
    }
  }

  return {
    name: 'missing-config',
    start(onFinding) {
      report = onFinding;
      for (const config of options.configs) {
        arm(config);
        check(config);
      }
      unsubscribe = options.log?.onLine((line) => {
        const signal = classifyConfigLine(line);
        if (!signal) return;
        const config = options.configs.find((c) => c.path === signal.path);
        if (!config) return;
        // The service saw a problem: look again now. Judging by the file itself keeps a stale line
        // (written before a heal, read after it) from opening an incident.
        seen.delete(config.name);
        check(config);
      });
      timer = setInterval(() => {
        for (const config of options.configs) {
          arm(config);
          check(config);
        }
      }, intervalMs);
      timer.unref();
    },
    stop() {
      unsubscribe?.();
      if (timer) clearInterval(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
      for (const timer of settling.values()) clearTimeout(timer);
      settling.clear();
    },
  };
}
