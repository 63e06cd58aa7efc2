import { type FSWatcher, watch } from 'node:fs';
import type { DiskSettings } from '../lib/config/resources.js';
import { dirsByMount, freeBytes, mountOf } from '../lib/disk.js';
import { describeEvidence, type Evidence, logEvidence } from '../lib/evidence.js';
import { LogClaims } from './log-limit.js';
import type { LogTail } from './log-tail.js';
import type { Detector, Finding, LogLine, ReportFinding } from './types.js';

/** Codes that mean the disk refused a write (docs/contract.md, `write.error`). */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** A write refused for lack of space, as the service's log reports it. */
export interface NoSpaceSignal {
  code: string;
  path?: string;
  message: string;
}

/** Reads one service log line; returns the refused write it reports, if any. */
export function classifyDiskLine(line: LogLine): NoSpaceSignal | undefined {
  const json = line.json;
  if (json) {
    const code = String(json.code ?? '');
    const sqliteFull = json.event === 'sqlite.error' && code === 'SQLITE_FULL';
    if (!(json.event === 'write.error' && NO_SPACE.has(code)) && !sqliteFull) return undefined;
    return {
      code,
      ...(typeof json.path === 'string' ? { path: json.path } : {}),
      message: String(json.msg ?? '').slice(0, 300),
    };
  }
  if (/ENOSPC|No space left on device|EDQUOT|Disk quota exceeded/.test(line.text)) {
    return { code: /EDQUOT|quota/i.test(line.text) ? 'EDQUOT' : 'ENOSPC', message: line.text.slice(0, 300) };
  }
  return undefined;
}

/** Options of {@link createDiskFullDetector}. */
export interface DiskFullDetectorOptions {
  disk: DiskSettings;
  log?: LogTail;
  /** Safety-net poll of free space. @default 1000 */
  intervalMs?: number;
  /**
   * Free bytes on the filesystem mounted at `mount`: the one measurement behind the watches, the
   * poll and the confirmation of a log line. @default statfs ({@link freeBytes})
   */
  freeSpace?: (mount: string) => number;
}

/**
 * disk-full detector. Events first: a change in any guarded directory (a watch per directory)
 * triggers a free-space check of its filesystem, at most one per 50 ms. The service's ENOSPC
 * lines are claims: each makes the detector measure the filesystem the line names (each guarded
 * one, for a line that names none) and reports only when its free space is under `minFree`;
 * claims are rate-limited per filesystem. A poll as a safety net costs one statfs per filesystem,
 * however many files the directories hold.
 */
export function createDiskFullDetector(options: DiskFullDetectorOptions): Detector {
  const intervalMs = options.intervalMs ?? 1000;
  const mounts = [...dirsByMount(options.disk).entries()];
  const watchers: FSWatcher[] = [];
  const pending = new Map<string, NodeJS.Timeout>();
  let report: ReportFinding = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const freeSpace = options.freeSpace ?? ((mount: string) => freeBytes(mount).free);
  const claims = new LogClaims();
  const finding = (mount: string, evidence: string, observedAt?: number, details?: Evidence): Finding => ({
    mode: 'disk-full',
    resource: mount,
    evidence,
    detectedAt: Date.now(),
    ...(observedAt === undefined ? {} : { observedAt }),
    ...(details ? { details } : {}),
  });

  /** What a measurement of `mount` finds wrong: its free space under the threshold, else undefined. */
  function shortOfSpace(mount: string): string | undefined {
    let free: number;
    try {
      free = freeSpace(mount);
    } catch {
      return undefined;
    }
    return free < options.disk.minFree
      ? `${free} bytes free on ${mount}, under the ${options.disk.minFree} threshold`
      : undefined;
  }

  function check(mount: string): void {
    const short = shortOfSpace(mount);
    if (short) report(finding(mount, short));
  }

  /**
   * A refused write in the log asks for a measurement of its filesystem (each guarded one, for a
   * line that names no path); only a filesystem measured short of space is reported.
   */
  function onLogLine(line: LogLine): void {
    const signal = classifyDiskLine(line);
    if (!signal) return;
    const ts = typeof line.json?.ts === 'number' ? line.json.ts : undefined;
    const details = logEvidence(line, { code: signal.code });
    for (const mount of signal.path ? [mountOf(signal.path)] : mounts.map(([m]) => m)) {
      claims.check(
        mount,
        () => Promise.resolve(shortOfSpace(mount)),
        (measured) => report(finding(mount, `${describeEvidence(details)}; confirmed: ${measured}`, ts, details)),
      );
    }
  }

  /** Coalesces bursts of file events into one statfs. */
  function soon(mount: string): void {
    if (pending.has(mount)) return;
    pending.set(
      mount,
      setTimeout(() => {
        pending.delete(mount);
        check(mount);
      }, 50).unref(),
    );
  }

  return {
    name: 'disk-full',
    start(onFinding) {
      report = onFinding;
      for (const [mount, dirs] of mounts) {
        for (const dir of dirs) {
          try {
            const watcher = watch(dir.path, { persistent: false }, () => soon(mount));
            watcher.on('error', () => watcher.close());
            watchers.push(watcher);
          } catch {
            // A directory that does not exist yet: the poll still covers its filesystem.
          }
        }
        check(mount);
      }
      unsubscribe = options.log?.onLine(onLogLine);
      timer = setInterval(() => {
        for (const [mount] of mounts) check(mount);
      }, intervalMs);
      timer.unref();
    },
    stop() {
      unsubscribe?.();
      if (timer) clearInterval(timer);
      for (const t of pending.values()) clearTimeout(t);
      for (const w of watchers) w.close();
    },
  };
}
