import { realpathSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * The absolute path with symbolic links resolved as far as it exists; the part that does not exist
 * yet is appended as written (a link must not hide where a directory really is).
 */
export function realPath(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : resolve(realPath(parent), basename(abs));
  }
}
