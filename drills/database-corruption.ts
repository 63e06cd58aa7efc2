import { randomBytes } from 'node:crypto';
import { open, stat, truncate } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupDir, listBackups } from '../lib/backups.js';
import type { GuardianConfig } from '../lib/config/load.js';
import type { ModeDrill } from './types.js';

/** Ways to damage a database file, each one seen to break SQLite for real (see docs/failure-modes.md). */
export const corruptions = {
  /** Random bytes over a b-tree page in the middle of the file: SQLITE_CORRUPT on read. */
  async 'overwrite-page'(path: string) {
    const { size } = await stat(path);
    const pageSize = await readPageSize(path);
    const pages = Math.floor(size / pageSize);
    const page = Math.max(1, Math.floor(pages / 2));
    await writeAt(path, page * pageSize, randomBytes(pageSize));
  },
  /** The 100-byte header destroyed: SQLITE_NOTADB. */
  async 'destroy-header'(path: string) {
    await writeAt(path, 0, randomBytes(100));
  },
  /** The file cut to a third: SQLITE_CORRUPT (pages missing). */
  async truncate(path: string) {
    const { size } = await stat(path);
    const pageSize = await readPageSize(path);
    await truncate(path, Math.max(pageSize, Math.floor(size / 3 / pageSize) * pageSize));
  },
} as const;

async function readPageSize(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    await handle.read(buf, 0, 2, 16);
    const raw = buf.readUInt16BE(0);
    return raw === 1 ? 65536 : raw;
  } finally {
    await handle.close();
  }
}

async function writeAt(path: string, position: number, data: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(data, 0, data.length, position);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The database drill: corrupts the demo's world model database for real; variants cycle per run. */
export const databaseCorruptionDrill: ModeDrill = {
  mode: 'database-corruption',
  targetMs: 60_000,
  attachable: true,
  async prepare(env) {
    // A Guardian of our own takes a backup now; a running one keeps its own: wait for its first.
    if (env.own) await env.own.backups.backupAll();
    else await waitForBackup(env.runtime.config.stateDir, drilledDatabase(env.runtime.config).name, 60_000);
  },
  async inject({ runtime }, run) {
    const db = drilledDatabase(runtime.config);
    const names = Object.keys(corruptions) as (keyof typeof corruptions)[];
    const variant = names[run % names.length] ?? 'overwrite-page';
    // Timed from the start: a truncate of gigabytes takes seconds, and the detector may see it before it returns.
    const injectedAt = Date.now();
    await corruptions[variant](db.path);
    return { resource: db.name, injectedAt, variant, cleanup: async () => undefined };
  },
};

function drilledDatabase(config: GuardianConfig): GuardianConfig['databases'][number] {
  const db = config.databases.find((d) => d.name === 'world_model') ?? config.databases[0];
  if (!db)
    throw new Error(`${config.file} guards no database (databases: in guardian.yaml); the drill has none to corrupt`);
  return db;
}

/** Waits until the running Guardian holds a verified backup of the database, so a heal can restore it. */
async function waitForBackup(stateDir: string, database: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (listBackups(stateDir, database).length === 0) {
    if (Date.now() > deadline)
      throw new Error(
        `the running Guardian has no verified backup of ${database} in ${backupDir(stateDir, database)} after ` +
          `${timeoutMs / 1000} s, so a corruption could not be healed; wait for its first backup and drill again`,
      );
    await sleep(250);
  }
}
