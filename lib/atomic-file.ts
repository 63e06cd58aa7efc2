import { copyFile, mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Flushes a file's data to disk. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes beside the target, fsyncs, then renames over it: a reader never sees half a file. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.guardian-tmp`;
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

/** Copies to a temporary name beside the target, fsyncs, then renames over it. */
export async function copyFileAtomic(from: string, to: string): Promise<void> {
  const tmp = `${to}.guardian-tmp`;
  await copyFile(from, tmp);
  await fsyncFile(tmp);
  await rename(tmp, to);
}
