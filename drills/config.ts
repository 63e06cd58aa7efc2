import { join } from 'node:path';
import { type GuardianConfig, loadConfig } from '../lib/config/load.js';
import { freePortRange } from '../lib/ports.js';

/**
 * The config a drill runs with: the user's guardian.yaml, but with its own host suffix and task
 * queue (so a running `guardian up` never picks up drill work), its own state directory and demo
 * home, a free port range, a short rollback window, and flap protection out of the way of
 * repeated injections.
 */
export async function drillConfig(
  file: string,
  options: { stateDir?: string; hostSuffix?: string } = {},
): Promise<GuardianConfig> {
  const base = loadConfig(file);
  const stateDir = options.stateDir ?? join(base.stateDir, 'drill');
  process.env.GRACE_HOME = join(stateDir, 'grace');
  const config = loadConfig(file);
  const host = `${config.host}-${options.hostSuffix ?? 'drill'}`;
  const start = await freePortRange(20);
  // The model server too gets a port of its own, clear of a model server `guardian up` runs.
  const modelPort = await freePortRange(1, start + 20);
  return {
    ...config,
    host,
    taskQueue: `guardian@${host}`,
    stateDir,
    alerts: { ...config.alerts, file: join(stateDir, 'alerts.log') },
    incidents: { ...config.incidents, rollbackWindow: 300, flap: { limit: 100_000, window: 60_000 } },
    ...(config.service
      ? { service: { ...config.service, port: { preferred: start, range: [start, start + 19] } } }
      : {}),
    ...(config.modelServer ? { modelServer: { ...config.modelServer, url: `http://127.0.0.1:${modelPort}` } } : {}),
  };
}
