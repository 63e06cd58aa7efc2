import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Bytes under a directory (allocated blocks, so sparse files count as what they use), never
 * following a symlink; 0 when it does not exist.
 */
export async function directorySize(dir: string): Promise<number> {
  const st = await lstat(dir).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.blocks * 512;
  let total = st.blocks * 512;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) total += await directorySize(join(dir, entry.name));
  return total;
}

/** The size of Guardian's state directory, in total and by top-level entry, largest first. */
export async function stateSize(
  stateDir: string,
): Promise<{ total: number; parts: { name: string; bytes: number }[] }> {
  const entries = await readdir(stateDir).catch(() => [] as string[]);
  const parts: { name: string; bytes: number }[] = [];
  for (const name of entries) parts.push({ name, bytes: await directorySize(join(stateDir, name)) });
  parts.sort((a, b) => b.bytes - a.bytes);
  return { total: parts.reduce((n, p) => n + p.bytes, 0), parts };
}
