import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A file whose name starts with a millisecond timestamp. */
export interface StampedFile {
  path: string;
  /** The timestamp of its name. */
  stamp: number;
}

/** The names in `dir`; none when it does not exist or cannot be read. */
export function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The files of `dir` whose names match `pattern` (its first group the timestamp), newest first. */
export function newestFirst(dir: string, pattern: RegExp): StampedFile[] {
  return namesIn(dir)
    .map((name) => pattern.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ path: join(dir, m[0]), stamp: Number(m[1]) }))
    .sort((a, b) => b.stamp - a.stamp);
}
