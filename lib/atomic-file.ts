import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  type FileHandle,
  lstat,
  mkdir,
  open,
  readlink,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** Mode of a file Guardian creates where none stood: readable by its owner only. */
export const NEW_FILE_MODE = 0o600;

/** Flushes a file's data to disk. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The file a write to `path` lands in: symbolic links followed to their final target (a dotfiles
 * manager's link stays a link, and its target gets the new content). A dangling link resolves to
 * the path it points at.
 */
export async function writeTarget(path: string): Promise<string> {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let st: Stats;
    try {
      st = await lstat(current);
    } catch {
      return current;
    }
    if (!st.isSymbolicLink()) return current;
    current = resolve(dirname(current), await readlink(current));
  }
  throw new Error(`${path}: too many levels of symbolic links`);
}

/**
 * Writes beside the target, fsyncs, then renames over it: a reader never sees half a file.
 * Writes through symbolic links to their target; the new file keeps the mode and owner of the file
 * it replaces (`mode`, default 0600, for a file that did not exist); the temporary file has an
 * unpredictable name and is created exclusively (O_EXCL, never through a planted link).
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = NEW_FILE_MODE): Promise<void> {
  const target = await writeTarget(path);
  await mkdir(dirname(target), { recursive: true });
  const existing = await stat(target).catch(() => undefined);
  const tmp = tempNameFor(target);
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.writeFile(data);
    await keepAttributes(handle, existing, mode);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await renameOrRemove(tmp, target);
}

/**
 * Copies to an exclusive temporary name beside the target, fsyncs, then renames over it; like
 * {@link writeFileAtomic}, through symbolic links, keeping the replaced file's mode and owner.
 */
export async function copyFileAtomic(from: string, to: string, mode = NEW_FILE_MODE): Promise<void> {
  const target = await writeTarget(to);
  const existing = await stat(target).catch(() => undefined);
  const tmp = tempNameFor(target);
  await copyFile(from, tmp, constants.COPYFILE_EXCL);
  try {
    if (existing) {
      await chmod(tmp, existing.mode & 0o7777);
      await chown(tmp, existing.uid, existing.gid).catch(ignorePermission);
    } else await chmod(tmp, mode);
    await fsyncFile(tmp);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await renameOrRemove(tmp, target);
}

function tempNameFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(8).toString('hex')}.guardian-tmp`);
}

async function keepAttributes(handle: FileHandle, existing: Stats | undefined, mode: number): Promise<void> {
  if (!existing) return handle.chmod(mode);
  await handle.chmod(existing.mode & 0o7777);
  // Only root may give a file away; anyone else writes files they own already.
  await handle.chown(existing.uid, existing.gid).catch(ignorePermission);
}

async function renameOrRemove(tmp: string, target: string): Promise<void> {
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function ignorePermission(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
}
