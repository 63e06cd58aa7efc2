import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * Appends to `file` until the filesystem says ENOSPC (the disk is full for real), in ever smaller
 * writes so the last bytes are taken too; returns the bytes written. Throws any other error.
 */
export function fillUntilNoSpace(file: string): number {
  const fd = openSync(file, 'a');
  let written = 0;
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
