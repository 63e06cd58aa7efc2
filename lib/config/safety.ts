import { homedir } from 'node:os';
import { dirname, sep } from 'node:path';
import type { ConfigProblem } from '../errors.js';
import { realPath } from '../real-path.js';
import type { GuardianConfig } from './load.js';

/** System directories no cleanup may be aimed at, nor the state directory placed in. */
const SYSTEM_DIRS = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/proc',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
  '/var',
];

/** The disk sections whose files Guardian removes, compresses or moves. */
const CLEANUP_KINDS = ['temp', 'snapshots', 'logs', 'artifacts'] as const;

/** A directory with the key path that names it. */
interface NamedDir {
  readonly key: string;
  readonly path: string;
  readonly what: string;
}

/**
 * What guardian.yaml must not ask for, once its paths are absolute: cleanups aimed at the
 * filesystem root, a system directory, the home directory (or a directory holding it), the state
 * directory, or a directory holding a guarded database or config — and a state directory in such
 * a place. Each problem names the key and what to do.
 */
export function safetyProblems(config: GuardianConfig, home = homedir()): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const stateProblem = dangerousDir(config.stateDir, home);
  if (stateProblem) {
    problems.push({
      key: 'stateDir',
      message: `${config.stateDir} is ${stateProblem}; Guardian makes its state directory private (0700) — use a directory of its own, such as .guardian`,
    });
  }
  const protectedDirs: NamedDir[] = [
    ...config.databases.map((d, i) => ({
      key: `databases[${i}].path`,
      path: dirname(d.path),
      what: `the directory of database ${d.name}`,
    })),
    ...config.configs.map((c, i) => ({
      key: `configs[${i}].path`,
      path: dirname(c.path),
      what: `the directory of config ${c.name}`,
    })),
  ];
  for (const kind of CLEANUP_KINDS) {
    const dirs = config.disk?.[kind].dirs ?? [];
    dirs.forEach((dir, i) => {
      const key = `disk.${kind}.dirs[${i}]`;
      const danger = dangerousDir(dir, home);
      if (danger) {
        problems.push({
          key,
          message: `${dir} is ${danger}; Guardian ${verb(kind)} files there — name a directory of ${kind} only`,
        });
        return;
      }
      const state = stateOverlap(dir, config.stateDir);
      if (state) {
        problems.push({
          key,
          message: `${dir} ${state} (stateDir); Guardian ${verb(kind)} files there — keep ${kind} directories out of Guardian's own state`,
        });
      }
      for (const other of protectedDirs) {
        const overlap = overlapOf(dir, other.path);
        if (!overlap) continue;
        problems.push({
          key,
          message: `${dir} ${overlap} ${other.what} (${other.key}); Guardian ${verb(kind)} files there — keep ${kind} directories apart from it`,
        });
      }
    });
  }
  return problems;
}

function verb(kind: (typeof CLEANUP_KINDS)[number]): string {
  return kind === 'logs' ? 'compresses old' : kind === 'artifacts' ? 'moves' : 'removes';
}

/** Subdirectories of the state directory that hold Guardian's own files (backups, quarantine …). */
const OWN_STATE_DIRS = new Set([
  'backups',
  'quarantine',
  'configs',
  'config-originals',
  'client-configs',
  'credentials',
  'secrets',
  'disk',
  'logs',
  'step-results',
]);

/**
 * How a cleanup directory overlaps Guardian's state: the state directory itself, one holding it,
 * or one inside Guardian's own files. A directory of its own under the state directory (the
 * demo keeps its home there) is fine.
 */
function stateOverlap(dir: string, stateDir: string): string | undefined {
  const overlap = overlapOf(dir, stateDir);
  if (overlap !== 'lies inside') return overlap && `${overlap} Guardian's state directory`;
  const first =
    realPath(dir)
      .slice(realPath(stateDir).length + 1)
      .split(sep)[0] ?? '';
  return OWN_STATE_DIRS.has(first) ? `lies inside Guardian's own ${first}/ in its state directory` : undefined;
}

/** Why a directory must not be cleaned or made private, if it must not. */
function dangerousDir(dir: string, home: string): string | undefined {
  const path = realPath(dir);
  if (path === sep) return 'the filesystem root';
  if (SYSTEM_DIRS.some((system) => path === system || path === realPath(system))) return 'a system directory';
  const realHome = realPath(home);
  if (path === realHome) return 'the home directory';
  if (isInside(realHome, path)) return 'a directory holding the home directory';
  return undefined;
}

/** How `a` and `b` overlap: the same directory, one inside the other, or not at all. */
function overlapOf(a: string, b: string): string | undefined {
  const ra = realPath(a);
  const rb = realPath(b);
  if (ra === rb) return 'is';
  if (isInside(rb, ra)) return 'holds';
  if (isInside(ra, rb)) return 'lies inside';
  return undefined;
}

function isInside(path: string, root: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}
