import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { guardedDirs, mountOf } from '../../lib/disk.js';
import type { GuardianConfig } from '../../lib/config/load.js';
import { fillUntilNoSpace } from '../../drills/fill-disk.js';
import type { Mode } from '../../workflows/definitions.js';

/** A fault the chaos agent injects itself, synchronously, so what it leaves is fingerprinted before Guardian can act. */
export interface SyncInjection {
  readonly resource: string;
  readonly variant: string;
  /** path → sha256 of what the fault left there. */
  readonly kept: Record<string, string>;
  /** Undoes what a run that did not heal would leave for the next case. */
  cleanup(): void;
}

/** sha256 of a file's bytes, or undefined when it is absent or not a regular file. */
export function fileHash(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return undefined;
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * The database's 100-byte header destroyed (SQLITE_NOTADB on open: every reader and the detector's
 * header check see it at once), then its file set hashed in the same tick.
 */
function corruptDatabase(config: GuardianConfig): SyncInjection {
  const db = config.databases.find((d) => d.name === 'world_model') ?? config.databases[0];
  if (!db) throw new Error('the chaos config guards no database (databases: in guardian.yaml)');
  // The WAL folded in first: a checkpoint by the service after the fault would otherwise rewrite the file.
  const conn = new Database(db.path, { timeout: 2000 });
  try {
    conn.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    conn.close();
  }
  const fd = openSync(db.path, 'r+');
  try {
    writeSync(fd, randomBytes(100), 0, 100, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const kept: Record<string, string> = {};
  for (const path of [db.path, `${db.path}-wal`]) {
    const hash = fileHash(path);
    if (hash && statSync(path).size > 0) kept[path] = hash;
  }
  return { resource: db.name, variant: 'destroy-header', kept, cleanup: () => undefined };
}

/** A YAML syntax error written over the demo's governance policies (what a person mid-edit leaves). */
function breakConfig(config: GuardianConfig): SyncInjection {
  const watched = config.configs.find((c) => c.name === 'governance_policies') ?? config.configs[0];
  if (!watched) throw new Error('the chaos config watches no config file (configs: in guardian.yaml)');
  const original = existsSync(watched.path) ? readFileSync(watched.path) : undefined;
  const broken = `version: 1\npolicies: [ { name: local-models, allow: true }\nlimits: {\n# chaos ${Date.now()}\n`;
  writeFileSync(watched.path, broken);
  return {
    resource: watched.name,
    variant: 'syntax-error',
    kept: { [watched.path]: createHash('sha256').update(broken).digest('hex') },
    cleanup: () => {
      const now = existsSync(watched.path) && statSync(watched.path).isFile() ? readFileSync(watched.path) : undefined;
      if (original && (!now || !now.equals(original))) writeFileSync(watched.path, original);
    },
  };
}

const DAY = 86_400_000;
const MB = 1048576;

/** Writes a file with distinct content (its path is in it) and an old modification time. */
function writeAged(path: string, size: number, ageMs: number): void {
  const body = Buffer.alloc(size, 0x20);
  body.write(`${path}\n`);
  writeFileSync(path, body);
  const t = new Date(Date.now() - ageMs);
  utimesSync(path, t, t);
}

/** Every regular file under `dir` (no symlinks followed), hashed. */
function hashTree(dir: string, into: Record<string, string>): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) hashTree(path, into);
    else if (entry.isFile()) {
      const hash = fileHash(path);
      if (hash) into[path] = hash;
    }
  }
}

/**
 * The disk-full scenario (old temp files, old logs, surplus snapshots, then the disk written full),
 * each file with distinct content, and every file of the guarded directories hashed in the same tick.
 */
function fillDisk(config: GuardianConfig): SyncInjection {
  const home = config.service?.env.GRACE_HOME;
  if (!home || !config.disk)
    throw new Error('the chaos disk-full case needs the demo service with GRACE_HOME and disk:');
  const tag = Date.now().toString(36);
  for (const d of ['logs', 'snapshots', 'tmp']) mkdirSync(join(home, d), { recursive: true });
  for (let i = 0; i < 400; i++) writeAged(join(home, 'tmp', `chaos-${tag}-${i}.partial`), 16 * 1024, DAY);
  for (let i = 0; i < 300; i++) writeAged(join(home, 'logs', `chaos-${tag}-${i}.log`), 28 * 1024, 8 * DAY);
  for (let i = 0; i < 40; i++)
    writeAged(join(home, 'snapshots', `snapshot-chaos-${tag}-${i}.json`), 512 * 1024, (40 - i) * 60_000);
  const ballast = join(home, 'ballast.bin');
  const mounted = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === home);
  if (mounted) fillUntilNoSpace(ballast);
  else writeFileSync(ballast, Buffer.alloc(MB));
  // What Guardian may remove or move: the files this fault wrote (the service's own live files change by themselves).
  const all: Record<string, string> = {};
  for (const dir of guardedDirs(config.disk)) hashTree(dir.path, all);
  const kept = Object.fromEntries(Object.entries(all).filter(([path]) => path.includes(`chaos-${tag}-`)));
  return {
    resource: mounted ? home : mountOf(home),
    variant: `temp-logs-snapshots${mounted ? '' : ' (real directory)'}, ${Object.keys(kept).length} files`,
    kept,
    cleanup: () => {
      rmSync(ballast, { force: true });
      for (const d of ['logs', 'snapshots', 'tmp']) {
        for (const name of readdirSync(join(home, d))) {
          if (name.includes(`chaos-${tag}`)) rmSync(join(home, d, name), { force: true });
        }
      }
    },
  };
}

/** The modes whose fault the chaos agent injects itself (the others use their drill's own injection). */
export const syncInjections: Partial<Record<Mode, (config: GuardianConfig) => SyncInjection>> = {
  'database-corruption': corruptDatabase,
  'missing-config': breakConfig,
  'disk-full': fillDisk,
};

/** Processes in this process's group other than itself: what a drill started (a port holder …). */
export function groupMembers(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const command = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      // tsx's esbuild helper is part of the agent itself, not something the drill started.
      if (Number(fields[2]) === process.pid && !command.includes('esbuild')) pids.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}
