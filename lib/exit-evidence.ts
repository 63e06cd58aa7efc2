import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { excerpt } from './redact.js';
import { kernelOomLine, type MemoryCgroup, memoryCgroupOf, oomKillCount } from './memory-cgroup.js';

/** Why a process died of memory, when the evidence says so. */
export interface OomEvidence {
  readonly oomKill: boolean;
  /** What proves it: the cgroup counter, the kernel log line, or the runtime's own message. */
  readonly evidence?: string;
}

/**
 * Remembers, for each start of a supervised process, its memory cgroup and that cgroup's OOM-kill
 * count, so an exit can later be told apart: a SIGKILL with the count risen (or the kernel log
 * naming the PID) is the kernel's OOM killer, not an operator's `kill -9`.
 */
export class OomWatch {
  private started: { pid: number; cgroup: MemoryCgroup; baseline: number } | undefined;

  /** Records the cgroup and its OOM-kill count of a process just started (after any confinement). */
  track(pid: number, cgroup: MemoryCgroup | undefined = memoryCgroupOf(pid)): void {
    const baseline = cgroup && oomKillCount(cgroup);
    this.started = cgroup && baseline !== undefined ? { pid, cgroup, baseline } : undefined;
  }

  /** Explains the end of `pid`: an OOM kill when the evidence exists, else not. */
  explain(exit: { pid: number; signal: string | undefined }, lastLines: readonly string[] = []): OomEvidence {
    const runtime = lastLines.find((l) => RUNTIME_OOM.test(l));
    if (runtime) return { oomKill: true, evidence: `the service said: ${runtime.slice(0, 200)}` };
    if (exit.signal !== 'SIGKILL') return { oomKill: false };
    const kernel = kernelOomLine(exit.pid);
    if (kernel) return { oomKill: true, evidence: `kernel log: ${kernel.slice(0, 240)}` };
    const watched = this.started?.pid === exit.pid ? this.started : undefined;
    const now = watched && oomKillCount(watched.cgroup);
    if (watched && now !== undefined && now > watched.baseline) {
      return {
        oomKill: true,
        evidence: `oom_kill in ${watched.cgroup.dir} rose from ${watched.baseline} to ${now} while it ran`,
      };
    }
    return { oomKill: false };
  }
}

/** A runtime's own last words when memory ran out (Node/V8, Python, Go, the C library). */
const RUNTIME_OOM =
  /JavaScript heap out of memory|Fatal process out of memory|MemoryError|fatal error: runtime: out of memory|Cannot allocate memory/i;

/** The last `count` non-empty lines of a file (read from its end, at most `maxBytes`), redacted and cut short ({@link excerpt}). */
export function lastLines(file: string, count = 8, maxBytes = 16_384): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-count)
      .map((l) => excerpt(l, 200));
  } finally {
    closeSync(fd);
  }
}

/** What /proc shows of a live process that does not answer: its state, what it waits in, threads, memory. */
export function hangState(pid: number): string | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s+(.+)$`, 'm').exec(status)?.[1]?.trim();
    let wchan = '';
    try {
      wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8').trim();
    } catch {
      // Not readable on every kernel.
    }
    return [
      `state ${field('State') ?? '?'}`,
      wchan && wchan !== '0' ? `waiting in ${wchan}` : undefined,
      `threads ${field('Threads') ?? '?'}`,
      `rss ${field('VmRSS') ?? '?'}`,
      `context switches ${field('voluntary_ctxt_switches') ?? '?'}/${field('nonvoluntary_ctxt_switches') ?? '?'}`,
    ]
      .filter(Boolean)
      .join(', ');
  } catch {
    return undefined;
  }
}
