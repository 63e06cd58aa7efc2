import { type FSWatcher, lstatSync, watch } from 'node:fs';
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

/** Cheap identity of what is at a path: changes when the file is edited, replaced, removed or turned into a directory. */
function signatureOf(path: string): string {
  try {
    const st = lstatSync(path);
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
  const seen = new Map<string, { signature: string; state: ConfigFileState; problem?: string }>();
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

  function check(config: WatchedConfig): void {
    const signature = signatureOf(config.path);
    const last = seen.get(config.name);
    if (last?.signature === signature) {
      if (last.state !== 'ok') report(finding(config, `${last.state}: ${last.problem ?? config.path}`));
      return;
    }
    const verdict = inspectConfigFile(config, config.path);
    seen.set(config.name, {
      signature,
      state: verdict.state,
      ...(verdict.problem ? { problem: verdict.problem } : {}),
    });
    if (verdict.state === 'ok') {
      if (verdict.bytes) options.onValid?.(config, verdict.bytes);
      return;
    }
    report(finding(config, `${verdict.state}: ${verdict.problem ?? config.path}`));
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
    },
  };
}
