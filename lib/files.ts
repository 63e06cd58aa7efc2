import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { chmod, copyFile, link, lstat, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncFile } from './atomic-file.js';
import { digestFile, type OnBytes } from './hash.js';
import { fsyncDir } from './step-state.js';

/** True when something (a file, a directory, a dangling symlink) stands at `path`. */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** True for the errors of a full filesystem or an exhausted quota. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** `path`, or `path` with a numeric suffix when that name is taken. */
export async function freeName(path: string): Promise<string> {
  if (!(await exists(path))) return path;
  for (let i = 1; i < 1000; i++) if (!(await exists(`${path}.${i}`))) return `${path}.${i}`;
  throw new Error(`no free name near ${path}: ${path}.1 to ${path}.999 are all taken; clear some of them`);
}

/** {@link freeName} with synchronous calls, for loops over thousands of files. */
export function freeNameSync(path: string): string {
  if (!existsSync(path)) return path;
  for (let i = 1; i < 1000; i++) if (!existsSync(`${path}.${i}`)) return `${path}.${i}`;
  throw new Error(`no free name near ${path}: ${path}.1 to ${path}.999 are all taken; clear some of them`);
}

/** Inode, size and modification time of a file: what changes when anything writes to it. */
export function identity(path: string): string {
  const st = statSync(path);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** rename, or copy + fsync + unlink across filesystems; the times of the file are kept. */
export async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  await copyFile(from, to);
  await fsyncFile(to);
  const st = await lstat(from);
  await utimes(to, st.atime, st.mtime);
  await unlink(from);
}

/**
 * Copies `from` to `to` as a stream that stops when `signal` fires (leaving no partial `to`
 * behind), fsyncs the copy and its directory, then reads the copy back: it returns the size and
 * SHA-256 of what it read from `from`, and fails when the copy does not hold the same bytes.
 */
export async function copyFileVerified(
  from: string,
  to: string,
  signal?: AbortSignal,
  onBytes?: OnBytes,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(from, { highWaterMark: 1 << 20 }), count, createWriteStream(to), { signal });
    await fsyncFile(to);
    await fsyncDir(dirname(to));
    const copied = await digestFile(to, signal, onBytes);
    const read = hash.digest('hex');
    if (copied.sha256 !== read || copied.size !== size) {
      throw new Error(
        `the copy ${to} does not match ${from} (checksums differ); check the disk holding ${dirname(to)}`,
      );
    }
    return { size, sha256: read };
  } catch (err) {
    await rm(to, { force: true });
    throw err;
  }
}

/** The errors of a filesystem that cannot hard-link `from` to `to` (another device, no hard links). */
const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/**
 * Keeps `from`'s bytes at `to` without copying or reading them: a hard link to the same inode,
 * fsynced with its directory. The bytes stay the original's as long as `from` is only replaced
 * by a rename, never written in place ({@link ownInode} first when it will be). Returns the
 * link's identity ({@link identity}), or undefined where the filesystem cannot link, for the
 * caller to copy instead.
 */
export async function linkAside(from: string, to: string): Promise<{ size: number; identity: string } | undefined> {
  await rm(to, { force: true });
  try {
    await link(from, to);
  } catch (err) {
    if (CANNOT_LINK.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
  await fsyncDir(dirname(to));
  return { size: (await stat(to)).size, identity: identity(to) };
}

/** True when both paths name one inode (hard links to each other); false when either is missing. */
export async function sameInode(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return x !== undefined && y !== undefined && x.ino === y.ino && x.dev === y.dev;
}

/**
 * Gives `path` an inode of its own when it is a hard link to `other` ({@link linkAside}): a
 * verified copy renamed over it, so writing `other` in place afterwards leaves `path` as it was.
 * `beforeRename` gets the copy's size and SHA-256 first, to record them durably. Returns whether
 * it copied.
 */
export async function ownInode(
  path: string,
  other: string,
  signal?: AbortSignal,
  beforeRename?: (copy: { size: number; sha256: string }) => Promise<void>,
): Promise<boolean> {
  if (!(await sameInode(path, other))) return false;
  const mode = (await stat(path)).mode & 0o7777;
  const tmp = `${path}.guardian-tmp`;
  const copy = await copyFileVerified(path, tmp, signal);
  await chmod(tmp, mode);
  await beforeRename?.(copy);
  await rename(tmp, path);
  await fsyncDir(dirname(path));
  return true;
}

/** Copies to a temporary name beside `to`, verifies and fsyncs it, then renames it over `to`. */
export async function replaceFileVerified(
  from: string,
  to: string,
  signal?: AbortSignal,
  onBytes?: OnBytes,
): Promise<{ size: number; sha256: string }> {
  const tmp = `${to}.guardian-tmp`;
  const digest = await copyFileVerified(from, tmp, signal, onBytes);
  await rename(tmp, to);
  await fsyncDir(dirname(to));
  return digest;
}
