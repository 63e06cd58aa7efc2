import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** Parses a size such as `1GB`, `512MB` or `3GiB` (powers of 1024) into bytes. */
export function parseDatabaseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(text);
  if (!m) throw new Error(`database size "${text}" is not a size; write it as 100MB, 1GB or 3GB`);
  const unit = (m[2] ?? 'B').toUpperCase().replace('I', '');
  const scale = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30 }[unit] ?? 1;
  const bytes = Math.round(Number(m[1]) * scale);
  if (bytes < 1) throw new Error(`database size "${text}" must be more than 0 bytes`);
  return bytes;
}

/** The table the service never reads: history kept for audits, the kind of page only a scrub sees. */
export const COLD_TABLE = 'entity_archive';

/**
 * Grows a database to at least `bytes` with real rows: 9 in 10 in the demo's `entities` table
 * (a name index and 1 KiB of distinct text per row), 1 in 10 in {@link COLD_TABLE}, which the
 * service never reads. WAL mode, checkpointed into the main file; written by SQLite itself in
 * large transactions (about 40 MB/s here).
 */
export function growDatabase(path: string, bytes: number): void {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    db.exec(
      'CREATE TABLE IF NOT EXISTS entities(id INTEGER PRIMARY KEY, name TEXT, data TEXT);' +
        'CREATE INDEX IF NOT EXISTS idx_entities_name ON entities(name);' +
        `CREATE TABLE IF NOT EXISTS ${COLD_TABLE}(id INTEGER PRIMARY KEY, entity TEXT, data TEXT);`,
    );
    const rows = (table: string, name: string) =>
      db.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT ?)
         INSERT INTO ${table} SELECT NULL, '${name}-' || hex(randomblob(8)), printf('%d:%s', i, hex(randomblob(506))) FROM n`,
      );
    const hot = rows('entities', 'bulk');
    const cold = rows(COLD_TABLE, 'archived');
    while (statSync(path).size < bytes) {
      db.transaction(() => {
        hot.run(18_000);
        cold.run(2_000);
      })();
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
  } finally {
    db.close();
  }
}

/**
 * A database of at least `bytes`, built once and kept under the cache directory
 * (GUARDIAN_DB_CACHE, default `<tmp>/guardian-db-cache`), so benchmarks and drills at the same
 * size reuse it; returns its path. Copy it before changing it.
 */
export function cachedDatabase(bytes: number, cacheDir = process.env.GUARDIAN_DB_CACHE): string {
  const dir = cacheDir ?? join(tmpdir(), 'guardian-db-cache');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `world_model-${bytes}.db`);
  if (existsSync(path)) return path;
  const building = `${path}.building-${process.pid}`;
  try {
    growDatabase(building, bytes);
    renameSync(building, path);
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${building}${suffix}`, { force: true });
  }
  return path;
}

/** Puts a copy of the cached database of `bytes` at `path` (before anything opens it). */
export function placeSizedDatabase(path: string, bytes: number): void {
  const template = cachedDatabase(bytes);
  for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${path}${suffix}`, { force: true });
  mkdirSync(join(path, '..'), { recursive: true });
  copyFileSync(template, `${path}.sizing`);
  renameSync(`${path}.sizing`, path);
}

/**
 * Overwrites a b-tree page of {@link COLD_TABLE} with random bytes: damage no service query
 * reads, which only a quick_check (the scrub) finds. Returns the page number.
 */
export function damageColdPage(path: string): Promise<number> {
  return damageRootPage(path, COLD_TABLE);
}

/**
 * Overwrites the root page of `table`'s b-tree with random bytes: for `entities`, damage every
 * query of the demo service reads, as a page fault under a running service would be. Returns the
 * page number.
 */
export async function damageRootPage(path: string, table: string): Promise<number> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  let page: number;
  let pageSize: number;
  try {
    pageSize = db.pragma('page_size', { simple: true }) as number;
    const root = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as
      { rootpage: number } | undefined;
    if (!root) throw new Error(`${path} has no ${table} table; grow it with growDatabase first`);
    page = root.rootpage;
  } finally {
    db.close();
  }
  const handle = await open(path, 'r+');
  try {
    await handle.write(randomBytes(pageSize), 0, pageSize, (page - 1) * pageSize);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return page;
}
