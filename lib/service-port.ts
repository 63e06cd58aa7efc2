import { setConfigKey } from './client-configs.js';
import type { Logger } from './logger.js';
import { isPortFree } from './ports.js';
import type { ProcessRegistry } from './process-registry.js';
import type { ServiceSettings } from './service-adoption.js';

/** What {@link reclaimPreferredPort} did: the move back, or why there was none. */
export type PortReclaim = { from: number; to: number } | { kept: number | null; reason: string };

/** The port a start uses: the registry's assignment when it lies in the configured range, else the preferred one. */
export function intendedPort(registry: ProcessRegistry, settings: ServiceSettings): number {
  const assigned = registry.port(settings.name)?.port;
  const [low, high] = settings.port.range;
  return assigned !== undefined && assigned >= low && assigned <= high ? assigned : settings.port.preferred;
}

/**
 * A service moved off its preferred port goes back to it once it is free: the registry's
 * assignment is forgotten and the client files get the preferred port again.
 */
export async function reclaimPreferredPort(
  registry: ProcessRegistry,
  settings: ServiceSettings,
  logger: Logger,
): Promise<PortReclaim> {
  const assigned = registry.port(settings.name)?.port;
  const preferred = settings.port.preferred;
  if (assigned === undefined || assigned === preferred) return { kept: null, reason: 'not moved' };
  if (!(await isPortFree(preferred, settings.env.HOST ?? '127.0.0.1')))
    return { kept: assigned, reason: `port ${preferred} is still taken` };
  registry.clearPort(settings.name);
  for (const client of settings.clientConfigs) {
    await setConfigKey(client.path, client.key, preferred).catch((err: unknown) =>
      logger.warn({ err, file: client.path }, 'could not write the preferred port into a client file'),
    );
  }
  logger.info({ service: settings.name, from: assigned, to: preferred }, 'the preferred port is free again');
  return { from: assigned, to: preferred };
}
