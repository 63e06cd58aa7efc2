import { join } from 'node:path';
import { listBackups } from '../lib/backups.js';
import type { GuardianConfig } from '../lib/config/load.js';
import { restoreCandidates } from '../lib/config-files.js';
import { guardedDirs } from '../lib/disk.js';
import { isPortFree } from '../lib/ports.js';
import type { Mode } from '../lib/modes.js';
import type { ActivityDeps } from './deps.js';

/** Concrete targets of a mode's steps, by step name (`disable-*` style names by prefix). */
export type StepTargets = Record<string, string>;

/**
 * The planning activity of observe mode: for an incident, the concrete things each step of its
 * mode would act on — files, the backup it would restore, the port it would take, the process
 * it would signal or start, the endpoint it would switch. Reads only.
 */
export function createPlanActivities({ config, service }: Pick<ActivityDeps, 'config' | 'service'>) {
  return {
    /** What each step of `mode` would act on for `resource`, by step name. */
    async planTargets({ mode, resource }: { mode: Mode; resource: string }): Promise<StepTargets> {
      const svc = config.service?.name ?? 'the service';
      const pid = service?.supervisor.running?.pid;
      const proc = `${svc}${pid === undefined ? '' : ` (pid ${pid}`}${service?.port === undefined ? ')' : ` on port ${service.port})`}`;
      const hook = (action: string) => `control hook ${action} of ${proc}`;
      const planners: Record<Mode, () => Promise<StepTargets> | StepTargets> = {
        'database-corruption': () => databaseTargets(config, resource, hook),
        'port-in-use': () => portTargets(config, proc),
        'slow-boot': () => ({
          'skip-chunk': `boot chunk ${resource} of ${svc}: skipped on this and every later boot (supervision registry)`,
          'defer-chunk': `boot chunk ${resource} of ${svc}: moved to the background on every boot`,
          verify: `boot of ${proc} finishing`,
        }),
        'out-of-memory': () => memoryTargets(config, hook),
        'disk-full': () => diskTargets(config, resource),
        'network-unreachable': () => ({
          'enter-offline-mode': `egress proxy: endpoints ${names(config)} answer from cache, writes queued in ${join(config.stateDir, 'egress.db')}`,
          'service-offline-mode': hook('offline-mode {enabled: true}'),
          'verify-offline': 'egress proxy offline flag',
          'await-network': `probes ${JSON.stringify(config.network.probes)} with backoff ${config.network.backoff.join(', ')} ms`,
          'service-online': hook('offline-mode {enabled: false}'),
          'exit-offline-mode': 'egress proxy offline flag off',
          'retry-queued-operations': `queued calls in ${join(config.stateDir, 'egress.db')}, each sent at most once`,
        }),
        'api-timeout': () => endpointTargets(config, resource),
        'missing-config': () => configTargets(config, resource, hook),
        'invalid-credentials': () => credentialTargets(config, resource),
        'service-down': () => ({
          'restart-budget': `restart budget of ${svc} (service.restart in ${config.file})`,
          'hold-restarts': `restarts of ${svc} held until guardian resume service-down ${svc}`,
          'stop-hung-process': `${proc}, only if the registry proves it Guardian's own`,
          restart: `${[config.service?.command ?? '', ...(config.service?.args ?? [])].join(' ')} on port ${service?.port ?? config.service?.port.preferred}`,
          'wait-ready': `health of ${svc} at ${config.service?.health.path ?? '/guardian/health'}`,
          verify: `${svc} answering its health route with the new pid`,
        }),
        'model-server-down': () => ({
          'degrade-ai': hook('feature {name: ai, enabled: false}'),
          'restart-budget': `restart budget of ${resource} (modelServer.restart in ${config.file})`,
          'hold-restarts': `restarts of ${resource} held until guardian resume model-server-down ${resource}`,
          'start-model-server': config.modelServer
            ? `${[config.modelServer.command, ...config.modelServer.args].join(' ')} in the background, answering at ${config.modelServer.url}/api/version`
            : 'no model server configured',
          'restore-ai': hook('feature {name: ai, enabled: true}'),
          verify: `${config.modelServer?.url ?? 'the model server'}/api/version and ${svc}'s AI feature`,
        }),
      };
      return planners[mode]();
    },
  };
}

const names = (config: GuardianConfig) => config.egress.endpoints.map((e) => e.name).join(', ') || 'none';

function databaseTargets(config: GuardianConfig, name: string, hook: (a: string) => string): StepTargets {
  const db = config.databases.find((d) => d.name === name);
  const path = db?.path ?? name;
  const backup = listBackups(config.stateDir, name)[0];
  return {
    'close-connections': hook(`close-connections {databases: [${name}]}`),
    'copy-aside': `${path}, ${path}-wal, ${path}-shm copied to ${join(config.stateDir, 'quarantine', name)}/<incident>`,
    'wal-checkpoint': `PRAGMA wal_checkpoint(TRUNCATE) on ${path}`,
    'restore-last-good-backup': backup
      ? `${backup.path} (taken ${new Date(backup.takenAt).toISOString()}, ${backup.size} bytes) over ${path}`
      : `no verified backup of ${name} yet: nothing could be restored`,
    'reopen-connections': hook(`reopen-connections {databases: [${name}]}`),
    verify: `integrity_check of ${path} and the service's health for ${name}`,
  };
}

async function portTargets(config: GuardianConfig, proc: string): Promise<StepTargets> {
  const svc = config.service;
  if (!svc) return {};
  const [low, high] = svc.port.range;
  let next: number | undefined;
  for (let p = svc.port.preferred + 1; p <= high && next === undefined; p++) if (await isPortFree(p)) next = p;
  for (let p = low; p < svc.port.preferred && next === undefined; p++) if (await isPortFree(p)) next = p;
  const clients = svc.clientConfigs.map((c) => `${c.path} (${c.key})`).join(', ') || 'no client files configured';
  return {
    'stop-stale-process': `the stale ${svc.name} processes the registry proves are Guardian's, on port ${svc.port.preferred}`,
    'allocate-port': `port ${next ?? 'none free'} of ${low}–${high}, recorded in ${join(config.stateDir, 'supervision.db')}`,
    'update-client-configs': clients,
    'restart-service': `${proc} restarted on ${next === undefined ? `port ${svc.port.preferred}` : `port ${svc.port.preferred}, or ${next} when moved`}`,
    verify: `health of ${svc.name} on its new port`,
  };
}

function memoryTargets(config: GuardianConfig, hook: (a: string) => string): StepTargets {
  const low = config.memory.lowMemory;
  const targets: StepTargets = {
    'clear-caches': hook('clear-caches'),
    'collect-garbage': hook('release-memory'),
    'limit-concurrency': hook(`set-concurrency {limit: ${low.concurrency}}`),
    'flush-logs': hook('flush-logs'),
    'unload-models': `models loaded in ${config.memory.modelServer ?? config.modelServer?.url ?? 'the model server'} (keep_alive: 0)`,
    'low-memory-mode': hook('low-memory-mode {enabled: true}'),
    verify: `system ${config.memory.systemPercent} %, swap ${config.memory.swapPercent} %, RSS ${config.memory.rss} bytes`,
  };
  for (const feature of low.disableFeatures)
    targets[`disable-${feature}`] = hook(`feature {name: ${feature}, enabled: false}`);
  return targets;
}

function diskTargets(config: GuardianConfig, mount: string): StepTargets {
  const disk = config.disk;
  if (!disk) return {};
  const dirs = (kind: string) =>
    guardedDirs(disk)
      .filter((d) => d.kind === kind)
      .map((d) => d.path)
      .join(', ') || `no ${kind} directories`;
  return {
    'clear-temp': `files older than ${disk.temp.olderThan} ms in ${dirs('temp')}`,
    'compress-old-logs': `logs older than ${disk.logs.olderThan} ms in ${dirs('logs')}, gzip in place`,
    'remove-old-snapshots': `snapshots beyond the newest ${disk.snapshots.keep} in ${dirs('snapshots')}`,
    'move-artifacts': `artifacts in ${dirs('artifacts')} to ${disk.secondary ?? 'secondary storage (none configured)'}`,
    verify: `free space on ${mount} over ${disk.minFree} bytes`,
  };
}

function endpointTargets(config: GuardianConfig, name: string): StepTargets {
  const e = config.egress.endpoints.find((x) => x.name === name);
  const url = e?.url ?? name;
  return {
    'open-circuit': `${name} (${url}): ${e?.backup ? `traffic to ${e.backup}` : 'last good replies served stale'}, timeout ${e?.timeouts[1] ?? e?.timeouts[0]} ms`,
    'verify-circuit-open': `circuit state of ${name} in ${join(config.stateDir, 'egress.db')}`,
    'half-open-trials': `one call to ${url}${e?.probePath ?? ''} every ${e?.retryInterval} ms`,
    'close-circuit': `${name}: circuit closed, timeout back to ${e?.timeouts[0]} ms`,
  };
}

function configTargets(config: GuardianConfig, name: string, hook: (a: string) => string): StepTargets {
  const watched = config.configs.find((c) => c.name === name);
  if (!watched) return {};
  const source = restoreCandidates(config.stateDir, watched)[0];
  return {
    'keep-original': `whatever is at ${watched.path}, copied to ${join(config.stateDir, 'configs', name)}`,
    'restore-config': `${source?.path ?? watched.defaults ?? 'the embedded defaults'} written to ${watched.path}`,
    'reload-service': hook('reload-config'),
    verify: `${watched.path} against ${watched.schema ?? 'its schema'}`,
  };
}

function credentialTargets(config: GuardianConfig, name: string): StepTargets {
  const e = config.egress.endpoints.find((x) => x.name === name);
  const c = config.credentials.find((x) => x.name === e?.credential);
  const credential = c?.name ?? 'its credential';
  return {
    'refresh-oauth-token': c?.oauth
      ? `${credential}: refresh-token grant at ${c.oauth.tokenUrl}`
      : 'no OAuth configured',
    'check-refreshed-token': `one call to ${e?.url ?? name} with the refreshed ${credential}`,
    'switch-to-backup-key': `${credential}: the backup key`,
    'check-backup-key': `one call to ${e?.url ?? name} with the backup key`,
    'verify-credential-accepted': `${name} accepting ${credential}`,
    'disable-endpoint': `${name} (${e?.url ?? ''}) in the egress proxy: cached replies only`,
    'use-configured-credential': `${credential}: the configured key`,
    'log-authentication-required': `"authentication required" in Guardian's log for ${name}`,
    'verify-endpoint-disabled': `${name} disabled in ${join(config.stateDir, 'egress.db')}`,
    'await-valid-credentials': `${credential} checked every ${e ? 'recheck interval' : ''}, or on guardian credentials-updated ${name}`,
    're-enable-endpoint': `${name} enabled in the egress proxy`,
  };
}
