import { execFileSync } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Mounts a size-limited tmpfs at `dir`; returns why not when this machine refuses (not root, no
 * mount permission in the sandbox).
 */
export function mountTmpfs(dir: string, sizeMb: number): { ok: true } | { ok: false; reason: string } {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim() };
  }
}

/** Unmounts a tmpfs mounted by {@link mountTmpfs} (lazily, so an open file cannot block it). */
export function unmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  } catch {
    // Not mounted.
  }
}

const DAY = 86_400_000;

/** Writes a file with a given age (mtime `ageMs` ago). */
export function writeAged(path: string, content: string | Buffer, ageMs: number): void {
  writeFileSync(path, content);
  const t = new Date(Date.now() - ageMs);
  utimesSync(path, t, t);
}

/** Log text that compresses like real logs do. */
export function logText(lines: number, seed = 0): string {
  let out = '';
  for (let i = 0; i < lines; i++) {
    out += `{"ts":${1764000000000 + i * 1000 + seed},"level":"info","event":"request","route":"/world","status":200,"ms":${(i * 7 + seed) % 97}}\n`;
  }
  return out;
}

/** A home with logs/, snapshots/ and tmp/ filled the way the drill and tests need. */
export function populateHome(
  home: string,
  spec: { oldLogs: number; logLines?: number; snapshots: number; snapshotKb: number; oldTemp: number; tempKb?: number },
): { snapshots: string[] } {
  for (const d of ['logs', 'snapshots', 'tmp']) mkdirSync(join(home, d), { recursive: true });
  for (let i = 0; i < spec.oldLogs; i++)
    writeAged(join(home, 'logs', `grace-${i}.log`), logText(spec.logLines ?? 1000, i), 8 * DAY + i * 1000);
  writeAged(join(home, 'logs', 'grace.log'), logText(50), 0);
  const snapshots: string[] = [];
  for (let i = 0; i < spec.snapshots; i++) {
    const path = join(home, 'snapshots', `snapshot-${1764000000000 + i}.json`);
    writeAged(path, Buffer.alloc(spec.snapshotKb * 1024, 0x20 + (i % 90)), (spec.snapshots - i) * 60_000);
    snapshots.push(path);
  }
  for (let i = 0; i < spec.oldTemp; i++)
    writeAged(join(home, 'tmp', `part-${i}.partial`), Buffer.alloc((spec.tempKb ?? 8) * 1024, 1), DAY);
  writeAged(join(home, 'tmp', 'writing-now.partial'), 'fresh', 0);
  return { snapshots };
}
