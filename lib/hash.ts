import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 of bytes, as hex. */
export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Called with the bytes of each chunk read, so a long step can report how far it is. */
export type OnBytes = (bytes: number) => void;

/** Size and SHA-256 of a file, streamed (a large database never sits in memory whole). */
export async function digestFile(
  path: string,
  signal?: AbortSignal,
  onBytes?: OnBytes,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
    onBytes?.(chunk.length);
  }
  return { size, sha256: hash.digest('hex') };
}

/** A file's size and SHA-256, or undefined when it does not exist. */
export async function digestIfExists(
  path: string,
  signal?: AbortSignal,
  onBytes?: OnBytes,
): Promise<{ size: number; sha256: string } | undefined> {
  try {
    return await digestFile(path, signal, onBytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
