import { lstatSync, readdirSync, realpathSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { DiskSettings } from './config/resources.js';
import { forEachOpenDescriptor, realpathOrSelf } from './proc.js';

/** What a guarded directory is for, which decides what may be done to its files. */
export type DirKind = 'logs' | 'snapshots' | 'temp' | 'artifacts' | 'watch';

/** A guarded directory, with the filesystem it lives on. */
export interface GuardedDir {
  path: string;
  kind: DirKind;
  /** Mount point of its filesystem (the resource name of a disk-full incident). */
  mount: string;
}

/** Every directory `disk:` guards, by kind. */
export function guardedDirs(disk: DiskSettings): { path: string; kind: DirKind }[] {
  return [
    ...disk.logs.dirs.map((path) => ({ path, kind: 'logs' as const })),
    ...disk.snapshots.dirs.map((path) => ({ path, kind: 'snapshots' as const })),
    ...disk.temp.dirs.map((path) => ({ path, kind: 'temp' as const })),
    ...disk.artifacts.dirs.map((path) => ({ path, kind: 'artifacts' as const })),
    ...disk.watch.map((path) => ({ path, kind: 'watch' as const })),
  ];
}

/**
 * Mount point of the filesystem holding `path` (the nearest existing ancestor counts for a path
 * that does not exist yet): the highest ancestor on the same device.
 */
export function mountOf(path: string): string {
  let current = path;
  let st = statOrUndefined(current);
  while (!st && dirname(current) !== current) {
    current = dirname(current);
    st = statOrUndefined(current);
  }
  if (!st) return sep;
  let mount = current;
  for (let parent = dirname(mount); parent !== mount; mount = parent, parent = dirname(mount)) {
    const ps = statOrUndefined(parent);
    if (!ps || ps.dev !== st.dev) break;
  }
  return mount;
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Free bytes an unprivileged writer can use on the filesystem holding `path` (statfs). */
export function freeBytes(path: string): { free: number; total: number } {
  const s = statfsSync(path);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

/** The guarded directories grouped by filesystem (mount point). */
export function dirsByMount(disk: DiskSettings): Map<string, GuardedDir[]> {
  const byMount = new Map<string, GuardedDir[]>();
  for (const dir of guardedDirs(disk)) {
    const mount = mountOf(dir.path);
    byMount.set(mount, [...(byMount.get(mount) ?? []), { ...dir, mount }]);
  }
  return byMount;
}

/** A regular file found in a guarded directory. */
export interface FoundFile {
  path: string;
  size: number;
  /** Bytes it really occupies (blocks), what removing it frees. */
  usage: number;
  mtimeMs: number;
  ino: number;
}

/**
 * Regular files under `root`, recursively. Symbolic links are never followed (neither to files
 * nor to directories), so nothing outside `root` is ever listed, and the walk stays on the
 * filesystem of `root` (a directory of another device — a mount point — is not entered). Bounded
 * in depth and count.
 * Synchronous system calls (far cheaper than one promise per file), yielding to the event loop
 * every thousand entries.
 */
export async function listFiles(root: string, limits = { depth: 8, files: 1_000_000 }): Promise<FoundFile[]> {
  const found: FoundFile[] = [];
  let device: number;
  try {
    device = lstatSync(root).dev;
  } catch {
    return found;
  }
  const pending: { dir: string; depth: number }[] = [{ dir: root, depth: 0 }];
  let sinceYield = 0;
  while (pending.length > 0 && found.length < limits.files) {
    const { dir, depth } = pending.pop() as { dir: string; depth: number };
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile() && !entry.isDirectory()) continue; // symlinks, sockets, devices: never
      const path = join(dir, entry.name);
      let st;
      try {
        st = lstatSync(path);
      } catch {
        continue;
      }
      if (st.isFile() && found.length < limits.files) {
        found.push({ path, size: st.size, usage: st.blocks * 512, mtimeMs: st.mtimeMs, ino: st.ino });
      } else if (st.isDirectory() && depth < limits.depth && st.dev === device) {
        pending.push({ dir: path, depth: depth + 1 });
      }
      if (++sinceYield >= 1000) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  return found;
}

/** True when `path` lies inside `root` once symbolic links in its directories are resolved. */
export function isInside(path: string, root: string): boolean {
  let realRoot: string;
  let realDir: string;
  try {
    realRoot = realpathSync(root);
    realDir = realpathSync(dirname(path));
  } catch {
    return false;
  }
  return realDir === realRoot || realDir.startsWith(realRoot + sep);
}

/**
 * Files some process holds open, among those under `roots` (from /proc/<pid>/fd, this process
 * included). Costs one readlink per open descriptor on the machine.
 */
export async function openFilesUnder(roots: readonly string[]): Promise<Set<string>> {
  const prefixes = roots.map((r) => realpathOrSelf(r) + sep);
  const open = new Set<string>();
  forEachOpenDescriptor((_pid, target) => {
    if (prefixes.some((p) => target.startsWith(p))) open.add(target);
  });
  return open;
}

/**
 * Snapshot retention: in each snapshot directory, the top-level entries (a snapshot file, or a
 * snapshot directory with all its files) beyond the newest `keep` — an entry's age is that of its
 * newest file. Returns the files of the entries to remove; a directory-style snapshot goes whole
 * or not at all.
 */
export function snapshotsBeyondKeep<F extends { path: string; mtimeMs: number; dir: string }>(
  files: readonly F[],
  keep: number,
): F[] {
  const entries = new Map<string, { newest: number; files: F[] }>();
  for (const file of files) {
    const top = file.path.slice(file.dir.length + 1).split(sep)[0] ?? '';
    const key = join(file.dir, top);
    const entry = entries.get(key) ?? { newest: 0, files: [] };
    entry.newest = Math.max(entry.newest, file.mtimeMs);
    entry.files.push(file);
    entries.set(key, entry);
  }
  const byDir = new Map<string, { newest: number; files: F[] }[]>();
  for (const [key, entry] of entries) byDir.set(dirname(key), [...(byDir.get(dirname(key)) ?? []), entry]);
  return [...byDir.values()].flatMap((list) =>
    list
      .sort((a, b) => b.newest - a.newest)
      .slice(keep)
      .flatMap((e) => e.files),
  );
}
