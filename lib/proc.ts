import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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
 * The processes holding a listening socket on `port`, found through /proc: the socket inodes
 * from /proc/net/tcp{,6}, then each process's open descriptors. Processes whose descriptors
 * cannot be read (another user's, without privileges) are missed, not guessed.
 */
export function portHolders(port: number): ProcessInfo[] {
  const inodes = listeningSocketInodes(port);
  if (inodes.size === 0) return [];
  const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  const holders: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      const info = processInfo(Number(entry));
      if (info) holders.push(info);
      break;
    }
  }
  return holders;
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

const SECRET_ARG = /(pass|secret|token|key|credential|auth)/i;

/**
 * The command line as one readable string for alerts and logs: cut to 120 characters, and the
 * value of any argument that looks like it carries a secret (`--token=…`, `--password x`) hidden.
 */
export function describeProcess(info: Pick<ProcessInfo, 'pid' | 'argv'>): string {
  const args = info.argv.map((arg, i) => {
    if (SECRET_ARG.test(arg) && arg.includes('=')) return `${arg.slice(0, arg.indexOf('='))}=***`;
    const previous = info.argv[i - 1];
    return previous?.startsWith('-') && SECRET_ARG.test(previous) && !previous.includes('=') ? '***' : arg;
  });
  const line = args.join(' ').replace(/\s+/g, ' ');
  return `pid ${info.pid} (${line.length > 120 ? `${line.slice(0, 117)}…` : line || 'unknown command'})`;
}
