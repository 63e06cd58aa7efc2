import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GuardianConfig } from './config/load.js';
import { EgressStore } from './egress/store.js';
import { Ledger } from './ledger.js';
import { notedRelief } from './memory-relief.js';
import { LowMemoryStarts } from './low-memory-starts.js';
import { ProcessRegistry } from './process-registry.js';
import type { ServiceHealth } from './service-control.js';
import type { Mode } from '../workflows/definitions.js';

/** Every kind of lasting override a remediation can leave in force after its incident closed. */
export const OVERRIDE_KINDS = [
  'offline-mode',
  'open-circuit',
  'disabled-endpoint',
  'skipped-chunk',
  'deferred-chunk',
  'low-memory-mode',
  'disabled-feature',
  'moved-port',
  'limited-concurrency',
  'unloaded-models',
] as const;

/** One kind of lasting override (see {@link OVERRIDE_KINDS}). */
export type OverrideKind = (typeof OVERRIDE_KINDS)[number];

/** One lasting override: what is in force, since when, and the one command that ends it. */
export interface Override {
  readonly kind: OverrideKind;
  /** The failure mode whose remediation put it in place (and whose `clear` ends it). */
  readonly mode: Mode;
  readonly resource: string;
  /** When it began (epoch ms), or null when nothing recorded it. */
  readonly since: number | null;
  readonly detail: string;
  /** The command that ends it, runnable as printed. */
  readonly command: string;
}

/** The service's health as the override scan reads it; undefined when it does not answer. */
export type HealthReader = () => Promise<ServiceHealth | undefined>;

/**
 * Every lasting override in force on this host, read from where each is kept: the egress
 * state (offline mode, circuits, disabled endpoints), the supervision registry (moved port, boot
 * chunks, features Guardian switched off, starts in low-memory mode after an OOM kill) and the
 * service's health route (low-memory mode turned on by out-of-memory).
 * Pauses and holds are the ledger's (`guardian status` lists them beside these). Reads only;
 * works whether or not Guardian runs.
 */
export async function listOverrides(
  config: GuardianConfig,
  health: HealthReader = () => readHealth(config),
): Promise<Override[]> {
  const found: Override[] = [];
  const clear = (mode: Mode, resource: string) => `guardian clear ${mode} ${resource}`;
  const egressFile = join(config.stateDir, 'egress.db');
  if (existsSync(egressFile)) {
    const store = new EgressStore(egressFile);
    try {
      const offline = store.db.prepare("SELECT value, updated_at FROM flags WHERE name = 'offline'").get() as
        { value: string; updated_at: number } | undefined;
      if (offline?.value === 'true') {
        found.push({
          kind: 'offline-mode',
          mode: 'network-unreachable',
          resource: 'network',
          since: offline.updated_at,
          detail: 'egress proxy offline: cached replies served, outbound writes queued',
          command: clear('network-unreachable', 'network'),
        });
      }
      const routes = store.db
        .prepare('SELECT endpoint, circuit, disabled, disabled_reason, updated_at FROM routes')
        .all() as {
        endpoint: string;
        circuit: string;
        disabled: number;
        disabled_reason: string | null;
        updated_at: number;
      }[];
      for (const r of routes) {
        if (!config.egress.endpoints.some((e) => e.name === r.endpoint)) continue;
        if (r.circuit !== 'closed') {
          found.push({
            kind: 'open-circuit',
            mode: 'api-timeout',
            resource: r.endpoint,
            since: r.updated_at,
            detail: `circuit ${r.circuit}`,
            command: clear('api-timeout', r.endpoint),
          });
        }
        if (r.disabled === 1) {
          found.push({
            kind: 'disabled-endpoint',
            mode: 'invalid-credentials',
            resource: r.endpoint,
            since: r.updated_at,
            detail: `disabled: ${r.disabled_reason ?? 'no reason recorded'}`,
            command: clear('invalid-credentials', r.endpoint),
          });
        }
      }
    } finally {
      store.close();
    }
  }
  const service = config.service;
  const registryFile = join(config.stateDir, 'supervision.db');
  let features: { feature: string; since: number }[] = [];
  let lowMemoryStarts = false;
  if (service && existsSync(registryFile)) {
    const registry = new ProcessRegistry(registryFile);
    try {
      const assigned = registry.port(service.name);
      if (assigned && assigned.port !== service.port.preferred) {
        found.push({
          kind: 'moved-port',
          mode: 'port-in-use',
          resource: service.name,
          since: assigned.assignedAt,
          detail: `on port ${assigned.port} instead of ${service.port.preferred} (${assigned.reason})`,
          command: clear('port-in-use', service.name),
        });
      }
      for (const o of registry.bootOverrides(service.name)) {
        found.push({
          kind: o.kind === 'skip' ? 'skipped-chunk' : 'deferred-chunk',
          mode: 'slow-boot',
          resource: o.chunk,
          since: o.since,
          detail: `boot chunk ${o.chunk} ${o.kind === 'skip' ? 'skipped (degraded)' : 'deferred to the background'} on every boot`,
          command: clear('slow-boot', o.chunk),
        });
      }
      const lowMemory = new LowMemoryStarts(registry.db).of(service.name);
      if (lowMemory) {
        lowMemoryStarts = true;
        found.push({
          kind: 'low-memory-mode',
          mode: 'service-down',
          resource: service.name,
          since: lowMemory.since,
          detail: 'started in low-memory mode (GUARDIAN_LOW_MEMORY=true) after an OOM kill, and on every start since',
          command: clear('service-down', service.name),
        });
      }
      features = registry.db
        .prepare('SELECT feature, since FROM degraded_features WHERE service = ?')
        .all(service.name) as {
        feature: string;
        since: number;
      }[];
    } finally {
      registry.close();
    }
  }
  if (service) found.push(...(await serviceOverrides(config, service.name, features, health, lowMemoryStarts)));
  // What the health route cannot show, as out-of-memory noted it: a concurrency limit, unloaded models.
  for (const relief of service ? notedRelief(join(config.stateDir, 'ledger.db')) : []) {
    if (relief.kind !== 'concurrency' && relief.kind !== 'models') continue;
    const [kind, detail] =
      relief.kind === 'concurrency'
        ? (['limited-concurrency', `concurrency limited (it was ${relief.previous})`] as const)
        : (['unloaded-models', `models unloaded: ${relief.previous.join(', ')}`] as const);
    const command = clear('out-of-memory', service?.name ?? '');
    found.push({ kind, mode: 'out-of-memory', resource: service?.name ?? '', since: relief.since, detail, command });
  }
  return found;
}

/** Low-memory mode and switched-off features, as the service's health route reports them. */
async function serviceOverrides(
  config: GuardianConfig,
  name: string,
  marked: { feature: string; since: number }[],
  health: HealthReader,
  /** Low-memory mode is service-down's (listed from the registry): not out-of-memory's too. */
  lowMemoryStarts: boolean,
): Promise<Override[]> {
  const now = await health().catch(() => undefined);
  if (!now) return [];
  const found: Override[] = [];
  const oomSince = lastStepAt(config, 'out-of-memory', 'low-memory-mode');
  if (now.lowMemory === true && !lowMemoryStarts) {
    found.push({
      kind: 'low-memory-mode',
      mode: 'out-of-memory',
      resource: name,
      since: oomSince,
      detail: `concurrency and non-essential features turned down`,
      command: `guardian clear out-of-memory ${name}`,
    });
  }
  for (const feature of now.disabledFeatures ?? []) {
    const mark = marked.find((m) => m.feature === feature);
    const ai = feature === 'ai' && config.modelServer !== undefined;
    if (!mark && !config.memory.lowMemory.disableFeatures.includes(feature)) continue; // the operator's own choice
    const mode: Mode = ai ? 'model-server-down' : 'out-of-memory';
    const resource = ai ? (config.modelServer?.name ?? name) : name;
    found.push({
      kind: 'disabled-feature',
      mode,
      resource,
      since: mark?.since ?? oomSince,
      detail: `feature ${feature} switched off`,
      command: `guardian clear ${mode} ${resource}`,
    });
  }
  return found;
}

/** When the newest incident of `mode` completed step `step` (from the ledger), or null. */
function lastStepAt(config: GuardianConfig, mode: Mode, step: string): number | null {
  const file = join(config.stateDir, 'ledger.db');
  if (!existsSync(file)) return null;
  const ledger = new Ledger(file);
  try {
    for (const record of ledger.incidents({ mode, limit: 50 })) {
      const done = (record.steps as { name?: string; endedAt?: number; state?: string }[]).find(
        (s) => s.name === step && s.endedAt !== undefined,
      );
      if (done?.endedAt !== undefined) return done.endedAt;
    }
    return null;
  } finally {
    ledger.close();
  }
}

/** GETs the service's health route on the port it runs on now (no token needed). */
export async function readHealth(config: GuardianConfig): Promise<ServiceHealth | undefined> {
  const service = config.service;
  if (!service) return undefined;
  const registryFile = join(config.stateDir, 'supervision.db');
  let port = service.port.preferred;
  if (existsSync(registryFile)) {
    const registry = new ProcessRegistry(registryFile);
    try {
      port = registry.latestRunning(service.name)?.port ?? registry.port(service.name)?.port ?? port;
    } finally {
      registry.close();
    }
  }
  const res = await fetch(`http://127.0.0.1:${port}${service.health.path}`, { signal: AbortSignal.timeout(1500) });
  return res.ok ? ((await res.json()) as ServiceHealth) : undefined;
}
