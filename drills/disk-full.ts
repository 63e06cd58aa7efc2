import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuardianConfig } from '../lib/config/load.js';
import { diskSchema } from '../lib/config/resources.js';
import { freeBytes, guardedDirs, listFiles, mountOf } from '../lib/disk.js';
import { fillUntilNoSpace } from './fill-disk.js';
import type { ModeDrill } from './types.js';

const MB = 1048576;
const DAY = 86_400_000;
/** Size of the drill's own filesystem, and the threshold that fits it. */
const TMPFS_MB = 160;
const MIN_FREE = 24 * MB;
/** Files that are always there (recent, never Guardian's to touch), so the guarded directories hold over 10,000. */
const STANDING_FILES = 10_000;

let home: string | undefined;
let mounted = false;
let refusal: string | undefined;

function writeAged(path: string, data: string | Buffer, ageMs: number): void {
  writeFileSync(path, data);
  const t = new Date(Date.now() - ageMs);
  utimesSync(path, t, t);
}

function logText(kb: number, seed: number): string {
  const line = `{"ts":${1764000000000 + seed},"level":"info","event":"request","route":"/world","status":200,"ms":${seed % 97}}\n`;
  return line.repeat(Math.ceil((kb * 1024) / line.length));
}

/** What each variant leaves to clean: old temp files, old logs, snapshots (the newest 10 are kept). */
const variants = {
  'temp-logs-snapshots': { oldTemp: 400, oldLogs: 300, snapshots: 40 },
  'snapshots-only': { oldTemp: 0, oldLogs: 0, snapshots: 60 },
  'logs-and-temp': { oldTemp: 600, oldLogs: 600, snapshots: 10 },
} as const;

/**
 * The disk drill: the demo's home on a 160 MB tmpfs of its own, about 10,000 files in the guarded
 * directories, then written full until ENOSPC. Where the machine refuses the mount it runs on the
 * real directory with a threshold just under what is free, and says so.
 */
export const diskFullDrill: ModeDrill = {
  mode: 'disk-full',
  targetMs: 45_000,
  async configure(config): Promise<GuardianConfig> {
    home = config.service?.env.GRACE_HOME;
    if (!home || !config.disk)
      throw new Error('the disk-full drill needs the demo service with GRACE_HOME and a disk: section');
    mkdirSync(home, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m,mode=0755`, 'tmpfs', home], { stdio: 'pipe' });
      mounted = true;
      return { ...config, disk: { ...config.disk, minFree: MIN_FREE } };
    } catch (err) {
      refusal = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim();
      process.stderr.write(
        `disk-full drill: the mount was refused (${refusal}); running on the real directory with a threshold\n`,
      );
      // 48 MB of cleanable files will push free space under a threshold set 24 MB below today's.
      return { ...config, disk: { ...config.disk, minFree: Math.max(MIN_FREE, freeBytes(home).free - 24 * MB) } };
    }
  },
  async prepare() {
    if (!home) return;
    const standing = join(home, 'logs', 'archive');
    mkdirSync(standing, { recursive: true });
    for (let i = 0; i < STANDING_FILES; i++) writeFileSync(join(standing, `request-${i}.log`), `{"i":${i}}\n`);
  },
  async inject(env, run) {
    if (!home) throw new Error('the disk-full drill was not configured');
    const names = Object.keys(variants) as (keyof typeof variants)[];
    const variant = names[run % names.length] ?? 'temp-logs-snapshots';
    const spec = variants[variant];
    for (const d of ['logs', 'snapshots', 'tmp']) mkdirSync(join(home, d), { recursive: true });
    for (let i = 0; i < spec.oldTemp; i++)
      writeAged(join(home, 'tmp', `drill-${run}-${i}.partial`), Buffer.alloc(16 * 1024, 1), DAY);
    for (let i = 0; i < spec.oldLogs; i++)
      writeAged(join(home, 'logs', `drill-${run}-${i}.log`), logText(28, i), 8 * DAY);
    for (let i = 0; i < spec.snapshots; i++) {
      writeAged(
        join(home, 'snapshots', `snapshot-drill-${run}-${i}.json`),
        Buffer.alloc(512 * 1024, 0x20 + (i % 90)),
        (spec.snapshots - i) * 60_000,
      );
    }
    const ballast = join(home, 'ballast.bin');
    if (mounted) fillUntilNoSpace(ballast);
    else writeFileSync(ballast, Buffer.alloc(MB)); // the cleanables already took free space under the threshold
    const injectedAt = Date.now();
    let files = 0;
    for (const dir of guardedDirs(env.runtime.config.disk ?? diskSchema.parse({})))
      files += (await listFiles(dir.path)).length;
    return {
      resource: mounted ? home : mountOf(home),
      injectedAt,
      variant: `${variant}${mounted ? '' : ' (real directory)'}, ${files} files`,
      cleanup: async () => {
        rmSync(ballast, { force: true });
        for (const d of ['logs', 'snapshots', 'tmp']) {
          for (const name of readdirSync(join(home as string, d))) {
            if (name.includes('drill-')) rmSync(join(home as string, d, name), { force: true });
          }
        }
      },
    };
  },
  async teardown() {
    if (home && mounted) execFileSync('umount', ['-l', home], { stdio: 'pipe' });
    else if (home) rmSync(join(home, 'logs', 'archive'), { recursive: true, force: true });
    mounted = false;
  },
};
