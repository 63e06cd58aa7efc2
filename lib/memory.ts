import { readFileSync } from 'node:fs';
import si from 'systeminformation';
import type { MemorySettings } from './config/resources.js';

/** One process's resident memory. */
export interface ProcessMemory {
  pid: number;
  rss: number;
}

/** A memory reading: the machine's, and each of the guarded service's processes. */
export interface MemorySample {
  at: number;
  total: number;
  /** Memory in use: total − available (what the kernel could not hand out without reclaiming). */
  used: number;
  usedPercent: number;
  swapTotal: number;
  swapUsed: number;
  swapPercent: number;
  processes: ProcessMemory[];
}

/** RSS of a process from /proc/<pid>/status; undefined when it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A process and its descendants (a child the service runs counts as the service's). Bounded. */
export function processTree(root: number, limit = 256): number[] {
  const seen: number[] = [];
  const queue = [root];
  while (queue.length > 0 && seen.length < limit) {
    const pid = queue.shift() as number;
    if (seen.includes(pid)) continue;
    seen.push(pid);
    let tasks: string[] = [];
    try {
      tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      // Gone, or a kernel without the children file: the root alone is measured.
    }
    queue.push(...tasks.map(Number));
  }
  return seen;
}

/** Reads system memory (systeminformation: /proc/meminfo) and the RSS of each process under `roots`. */
export async function sampleMemory(roots: readonly number[]): Promise<MemorySample> {
  const mem = await si.mem();
  const processes: ProcessMemory[] = [];
  for (const pid of roots.flatMap((r) => processTree(r))) {
    const rss = rssOf(pid);
    if (rss !== undefined) processes.push({ pid, rss });
  }
  const used = mem.total - mem.available;
  return {
    at: Date.now(),
    total: mem.total,
    used,
    usedPercent: (used / mem.total) * 100,
    swapTotal: mem.swaptotal,
    swapUsed: mem.swapused,
    swapPercent: mem.swaptotal > 0 ? (mem.swapused / mem.swaptotal) * 100 : 0,
    processes,
  };
}

const mb = (bytes: number) => `${Math.round(bytes / 1048576)} MB`;

/** What is over its threshold in a sample; empty when memory is healthy. */
export function memoryProblems(
  sample: MemorySample,
  limits: Pick<MemorySettings, 'systemPercent' | 'swapPercent' | 'rss'>,
): string[] {
  const problems: string[] = [];
  if (sample.usedPercent > limits.systemPercent) {
    problems.push(`system memory ${sample.usedPercent.toFixed(1)}% used (threshold ${limits.systemPercent}%)`);
  }
  if (sample.swapTotal > 0 && sample.swapPercent > limits.swapPercent) {
    problems.push(`swap ${sample.swapPercent.toFixed(1)}% used (threshold ${limits.swapPercent}%)`);
  }
  for (const p of sample.processes) {
    if (p.rss > limits.rss) problems.push(`pid ${p.pid} RSS ${mb(p.rss)} over the ${mb(limits.rss)} limit`);
  }
  return problems;
}
