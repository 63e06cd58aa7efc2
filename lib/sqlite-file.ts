import { open, stat } from 'node:fs/promises';

const MAGIC = 'SQLite format 3\0';

/** What a cheap look at a database file's header says. */
export interface HeaderVerdict {
  ok: boolean;
  /** SQLITE_NOTADB for a destroyed header, SQLITE_CORRUPT for a truncated file, ENOENT for a missing one. */
  code?: 'SQLITE_NOTADB' | 'SQLITE_CORRUPT' | 'ENOENT' | 'EMPTY';
  problem?: string;
  pageSize?: number;
  pageCount?: number;
  size: number;
}

/**
 * Reads the 100-byte header and compares the page count with the file size. Constant cost,
 * whatever the database's size: used on every detector tick.
 */
export async function checkHeader(path: string): Promise<HeaderVerdict> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return { ok: false, code: 'ENOENT', problem: 'file is missing', size: 0 };
  }
  if (size === 0) return { ok: true, code: 'EMPTY', size };
  const header = Buffer.alloc(100);
  const handle = await open(path, 'r');
  try {
    await handle.read(header, 0, 100, 0);
  } finally {
    await handle.close();
  }
  if (size < 100 || header.toString('latin1', 0, 16) !== MAGIC) {
    return { ok: false, code: 'SQLITE_NOTADB', problem: 'file is not a database (header destroyed)', size };
  }
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    return { ok: false, code: 'SQLITE_NOTADB', problem: `invalid page size ${raw} in header`, size };
  }
  // The in-header page count is valid only when the version-valid-for number matches the change counter.
  const pageCount = header.readUInt32BE(24) === header.readUInt32BE(92) ? header.readUInt32BE(28) : undefined;
  if (pageCount !== undefined && pageCount > 0 && size < pageCount * pageSize) {
    return {
      ok: false,
      code: 'SQLITE_CORRUPT',
      problem: `file is truncated: ${size} bytes, header says ${pageCount} pages of ${pageSize}`,
      pageSize,
      pageCount,
      size,
    };
  }
  return { ok: true, pageSize, ...(pageCount === undefined ? {} : { pageCount }), size };
}

/** The files that make up one database: the main file and its WAL-mode companions. */
export function databaseFileSet(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`, `${path}-journal`];
}
