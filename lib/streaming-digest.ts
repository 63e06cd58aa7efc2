import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Bytes per step: large enough for disk throughput; hashing one takes a few ms, so the event loop stays free. */
const CHUNK = 1024 * 1024;

/** Size and SHA-256 of a file's content. */
export interface FileDigest {
  size: number;
  sha256: string;
}

/** Called after each chunk with the bytes done so far and the file's size when the copy started. */
export type ByteProgress = (done: number, total: number) => void;

/** Options of the streaming copy and digest functions. */
export interface StreamOptions {
  onProgress?: ByteProgress;
  /** Stops the work between two chunks; the partial target is removed. */
  signal?: AbortSignal;
}

/**
 * SHA-256 of a file, read in 1 MiB chunks: constant memory at any size (a whole-file read stops
 * at 2 GiB) and an event loop that stays free between chunks.
 */
export async function fileDigest(path: string, options: StreamOptions = {}): Promise<FileDigest> {
  const handle = await open(path, 'r');
  try {
    const total = (await handle.stat()).size;
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
      options.onProgress?.(size, total);
    }
    return { size, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

/**
 * Copies a file and hashes what it wrote in one pass, then fsyncs the copy. The digest is of
 * the bytes written, so it names the copy exactly even if the source changes meanwhile.
 */
export async function copyWithDigest(from: string, to: string, options: StreamOptions = {}): Promise<FileDigest> {
  const source = await open(from, 'r');
  try {
    await mkdir(dirname(to), { recursive: true });
    const target = await open(to, 'w');
    try {
      const total = (await source.stat()).size;
      const hash = createHash('sha256');
      // Two buffers: the next read proceeds while the previous chunk is hashed and written.
      let current = Buffer.allocUnsafe(CHUNK);
      let spare = Buffer.allocUnsafe(CHUNK);
      let size = 0;
      let pending = source.read(current, 0, CHUNK, 0);
      for (;;) {
        options.signal?.throwIfAborted();
        const { bytesRead } = await pending;
        if (bytesRead === 0) break;
        [current, spare] = [spare, current];
        pending = source.read(current, 0, CHUNK, size + bytesRead);
        const chunk = spare.subarray(0, bytesRead);
        hash.update(chunk);
        await target.write(chunk, 0, bytesRead, size);
        size += bytesRead;
        options.onProgress?.(size, total);
      }
      await target.sync();
      return { size, sha256: hash.digest('hex') };
    } finally {
      await target.close();
    }
  } catch (err) {
    await rm(to, { force: true });
    throw err;
  } finally {
    await source.close();
  }
}

/**
 * Copies beside the target (`<to>.guardian-tmp`), fsyncs, then renames over it, so a reader
 * never sees half a file; returns the digest of what is now at `to`.
 */
export async function copyAtomicWithDigest(from: string, to: string, options: StreamOptions = {}): Promise<FileDigest> {
  const tmp = `${to}.guardian-tmp`;
  const digest = await copyWithDigest(from, tmp, options);
  await rename(tmp, to);
  await syncDirectory(dirname(to));
  return digest;
}

/** fsyncs a directory, so a rename in it survives a power cut. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await handle.close();
  }
}
