import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LockHeldError } from './errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes a PID lock file (created exclusively); a lock left by a process that is gone is taken
 * over. Returns the release function.
 */
export function acquirePidLock(path: string): () => void {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) throw new LockHeldError(path, holder);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not take the lock ${path}`);
}

/** The PID holding a PID lock file, if the file names a process that is alive; undefined otherwise. */
export function lockHolder(path: string): number | undefined {
  let holder: number;
  try {
    holder = Number(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  return Number.isInteger(holder) && holder > 0 && alive(holder) ? holder : undefined;
}

/** The PID of the Guardian (`guardian up`) running on a state directory, if one runs. */
export function runningGuardianPid(stateDir: string): number | undefined {
  return lockHolder(join(stateDir, 'guardian.pid'));
}

/**
 * Takes the one-Guardian-per-state-directory lock (`<stateDir>/guardian.pid`). A second
 * `guardian up` on the same state directory fails with a {@link LockHeldError} naming the PID of
 * the one that runs. Returns the release function.
 */
export function acquireStateDirLock(stateDir: string): () => void {
  try {
    return acquirePidLock(join(stateDir, 'guardian.pid'));
  } catch (err) {
    if (err instanceof LockHeldError) {
      err.message =
        `Guardian is already running on the state directory ${stateDir} (pid ${err.pid}). ` +
        `Stop it first (Ctrl-C in its terminal, or kill ${err.pid}), or give this one another stateDir in its guardian.yaml.`;
    }
    throw err;
  }
}
