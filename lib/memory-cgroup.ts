import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A memory cgroup directory and which cgroup version it speaks. */
export interface MemoryCgroup {
  readonly dir: string;
  readonly version: 1 | 2;
}

const V1_ROOT = '/sys/fs/cgroup/memory';
const V2_ROOTS = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];

/** The memory cgroup `pid` belongs to (cgroup v1's memory controller, else v2), or undefined when unreadable. */
export function memoryCgroupOf(pid: number | 'self'): MemoryCgroup | undefined {
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (v1) return { dir: join(V1_ROOT, v1.slice(v1.lastIndexOf(':') + 1)), version: 1 };
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (!v2) return undefined;
  const path = v2.slice(3);
  for (const root of V2_ROOTS) {
    const dir = join(root, path);
    if (readable(join(dir, 'memory.events'))) return { dir, version: 2 };
  }
  return undefined;
}

/** The cgroup's count of OOM kills (v2 `memory.events`, v1 `memory.oom_control`), or undefined when unreadable. */
export function oomKillCount(cgroup: MemoryCgroup): number | undefined {
  try {
    const file = cgroup.version === 2 ? 'memory.events' : 'memory.oom_control';
    const match = /^oom_kill (\d+)$/m.exec(readFileSync(join(cgroup.dir, file), 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts `pid` in a memory cgroup of its own (`guardian-<name>` under Guardian's) limited to
 * `limitBytes`, so allocating past the limit ends in the kernel's OOM kill of that process and
 * nothing else. Returns the cgroup, or a reason when this host does not let Guardian create one.
 */
export function confineMemory(
  pid: number,
  name: string,
  limitBytes: number,
): { cgroup: MemoryCgroup } | { reason: string } {
  const own = memoryCgroupOf('self');
  if (!own) return { reason: 'no memory cgroup is readable in /proc/self/cgroup' };
  const cgroup: MemoryCgroup = {
    dir: join(own.dir, `guardian-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`),
    version: own.version,
  };
  try {
    mkdirSync(cgroup.dir, { recursive: true });
    writeFileSync(join(cgroup.dir, cgroup.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitBytes));
    if (cgroup.version === 2) writeFileSync(join(cgroup.dir, 'memory.swap.max'), '0');
    writeFileSync(join(cgroup.dir, 'cgroup.procs'), String(pid));
    return { cgroup };
  } catch (err) {
    return { reason: `could not set a memory limit in ${cgroup.dir}: ${(err as Error).message}` };
  }
}

/** Removes a cgroup {@link confineMemory} made, once nothing runs in it; false when it is still in use. */
export function releaseCgroup(cgroup: MemoryCgroup): boolean {
  try {
    rmdirSync(cgroup.dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * The kernel log's line about an OOM kill of `pid` ("Killed process <pid>"), read from
 * /dev/kmsg without blocking; undefined when there is none or the log is not readable.
 */
export function kernelOomLine(pid: number, maxRecords = 20_000): string | undefined {
  let fd: number;
  try {
    fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const buffer = Buffer.alloc(8192);
  const pattern = new RegExp(`Killed process ${pid}\\b`);
  let found: string | undefined;
  try {
    for (let i = 0; i < maxRecords; i++) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten while reading: go on with the next
        break; // EAGAIN: the end of the log
      }
      if (n <= 0) break;
      const record = buffer.toString('utf8', 0, n);
      if (pattern.test(record)) found = record.slice(record.indexOf(';') + 1).trim();
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

function readable(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}
