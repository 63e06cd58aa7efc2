import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { describeCommand } from './redact.js';

/**
 * What /proc says about one process: enough to tell it apart from a later process that got the
 * same PID. `startTicks` (clock ticks after boot) never changes for a process and differs for a
 * reused PID; `argv` is its command line.
 */
export interface ProcessInfo {
  readonly pid: number;
  readonly startTicks: number;
  /** `startTicks` as epoch milliseconds: approximate, as the kernel's boot time has whole seconds. */
  readonly startedAt: number;
  readonly argv: readonly string[];
  /** The kernel's state letter: R, S, D, Z (zombie) … */
  readonly state: string;
}

/** USER_HZ: what /proc counts start times in. 100 on every mainstream Linux architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

let bootTimeMs: number | undefined;

function bootTime(): number {
  if (bootTimeMs === undefined) {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('btime '));
    bootTimeMs = Number(line?.split(/\s+/)[1] ?? 0) * 1000;
  }
  return bootTimeMs;
}

/** Reads /proc/<pid>; undefined when no such process exists (or it cannot be read). */
export function processInfo(pid: number): ProcessInfo | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0] ?? '?';
    const startTicks = Number(fields[19]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    return {
      pid,
      startTicks,
      startedAt: Math.round(bootTime() + (startTicks * 1000) / CLOCK_TICKS_PER_SECOND),
      argv,
      state,
    };
  } catch {
    return undefined;
  }
}

/** True while the process runs (a zombie has ended; it only waits to be reaped). */
export function isAlive(info: ProcessInfo | undefined): info is ProcessInfo {
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

/** True when `info` is the very process `expected` describes: same PID, start time and command line. */
export function sameProcess(
  info: ProcessInfo | undefined,
  expected: { pid: number; startTicks: number; argv: readonly string[] },
): boolean {
  return (
    isAlive(info) &&
    info.pid === expected.pid &&
    info.startTicks === expected.startTicks &&
    info.argv.length === expected.argv.length &&
    info.argv.every((arg, i) => arg === expected.argv[i])
  );
}

/** The socket inodes listening on a TCP port, on any local address, IPv4 or IPv6 (/proc/net/tcp{,6}). */
export function listeningSocketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields: sl local_address rem_address st … inode (10th); st 0A is LISTEN.
      if (fields[3] !== '0A' || fields[1]?.split(':')[1] !== hexPort) continue;
      const inode = fields[9];
      if (inode && inode !== '0') inodes.add(inode);
    }
  }
  return inodes;
}

/**
 * Visits every open descriptor of every process this one may read (this process included), with
 * the descriptor's target as readlink names it: a path (` (deleted)` appended once unlinked),
 * `socket:[inode]`, `pipe:[inode]` … `visit` returns true to skip the rest of that process's
 * descriptors. Processes whose descriptors cannot be read (another user's, without privileges)
 * are missed, not guessed. Costs one readlink per open descriptor on the machine.
 */
export function forEachOpenDescriptor(visit: (pid: number, target: string) => boolean | void): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      if (visit(Number(pid), target) === true) break;
    }
  }
}

/**
 * The processes holding a listening socket on `port`, found through /proc: the socket inodes
 * from /proc/net/tcp{,6}, then each process's open descriptors.
 */
export function portHolders(port: number): ProcessInfo[] {
  const inodes = listeningSocketInodes(port);
  if (inodes.size === 0) return [];
  const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  const holders: ProcessInfo[] = [];
  forEachOpenDescriptor((pid, target) => {
    if (!wanted.has(target)) return false;
    const info = processInfo(pid);
    if (info) holders.push(info);
    return true;
  });
  return holders;
}

/**
 * The processes other than this one that hold any of `paths` open (by descriptor, whatever
 * their locks), as PIDs. Paths are compared once symbolic links are resolved, as /proc names them.
 */
export function processesHoldingOpen(paths: readonly string[]): number[] {
  const wanted = new Set(paths.map((p) => realpathOrSelf(p)));
  const pids = new Set<number>();
  forEachOpenDescriptor((pid, target) => {
    if (pid === process.pid || !wanted.has(target)) return false;
    pids.add(pid);
    return true;
  });
  return [...pids];
}

/** `path` with symbolic links resolved; `path` itself when it does not exist. */
export function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * A short description of a process for alerts and histories: `pid 123 (python3)`, from its
 * command name only, so no argument (which may carry a secret) is recorded.
 */
export function shortDescription(pid: number): string {
  let name = '';
  try {
    name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // gone meanwhile
  }
  return `pid ${pid} (${name || 'unknown'})`;
}

/** One variable of a process's environment as it was started (/proc/<pid>/environ). */
export function environmentVariable(pid: number, name: string): string | undefined {
  try {
    const prefix = `${name}=`;
    const entry = readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((e) => e.startsWith(prefix));
    return entry?.slice(prefix.length);
  } catch {
    return undefined;
  }
}

/**
 * A process as Guardian records it (alerts, logs, activity results): its PID and its command line
 * through the one describer ({@link describeCommand}: short, secrets removed).
 */
export function describeProcess(info: Pick<ProcessInfo, 'pid' | 'argv'>): string {
  return `pid ${info.pid} (${describeCommand(info.argv, 80)})`;
}

/** Who listens on `port`, for a message: "held by pid 42 (node server.mjs)", or "holder unknown". */
export function describePortHolders(port: number): string {
  const holders = portHolders(port);
  return holders.length === 0 ? 'holder unknown' : `held by ${holders.map(describeProcess).join(', ')}`;
}
