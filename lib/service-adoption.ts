import { setTimeout as sleep } from 'node:timers/promises';
import type { GuardianConfig } from './config/load.js';
import { environmentVariable } from './proc.js';
import type { RegisteredProcess } from './process-registry.js';
import { ServiceControl } from './service-control.js';

/** guardian.yaml's `service:` section. */
export type ServiceSettings = NonNullable<GuardianConfig['service']>;

/**
 * The control token of this Guardian: the one a service an earlier Guardian started still knows
 * (so Guardian keeps talking with it), else `GUARDIAN_CONTROL_TOKEN`, else a new one.
 */
export function controlToken(candidate: RegisteredProcess | undefined): string {
  return (
    (candidate && environmentVariable(candidate.pid, 'GUARDIAN_CONTROL_TOKEN')) ||
    process.env.GUARDIAN_CONTROL_TOKEN ||
    ServiceControl.newToken()
  );
}

/** True when `entry` runs today's command line on a port of today's range: only such a process is adopted. */
export function runsConfiguredService(entry: RegisteredProcess, settings: ServiceSettings): boolean {
  const configured = [settings.command, ...settings.args];
  const [low, high] = settings.port.range;
  return (
    entry.port !== null &&
    entry.port >= low &&
    entry.port <= high &&
    entry.argv.length === configured.length &&
    entry.argv.every((arg, i) => arg === configured[i])
  );
}

/** True once the service's health route answers with the expected PID within `timeoutMs`. */
export async function answersAs(control: ServiceControl, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await control.health(500)).pid === pid) return true;
    } catch {
      // Not answering yet.
    }
    await sleep(50);
  }
  return false;
}
