import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startRemoteApi, type RemoteApi } from '../examples/remote-api/remote-api.mjs';
import type { GuardianConfig } from '../lib/config/load.js';
import type { CredentialSettings, SecretRef } from '../lib/config/outside.js';
import type { ConfigureOptions } from './types.js';

/**
 * The outside world the outbound-traffic drills break and mend: the remote-API stand-in
 * (examples/remote-api) on the ports guardian.yaml's egress endpoints name, with fresh random
 * keys in the drill's own state directory (a user's key files are never touched).
 */
export interface OutsideWorld {
  readonly primary: RemoteApi;
  /** The backup endpoint's server, when an endpoint has a backup on another port. */
  readonly backup?: RemoteApi;
  /** Current value of each credential reference the drill wrote, by credential name and slot. */
  readonly secrets: Map<string, { token?: string; backup?: string; refresh?: string }>;
  /** Writes a new value into a credential's token file; returns it. */
  rotate(credential: string): string;
}

let world: OutsideWorld | undefined;
let users = 0;

/** The drill timings: thresholds shortened so a run takes seconds; detection settings stay as configured. */
const DRILL_TIMEOUTS = [400, 300, 200];
const DRILL_RETRY_MS = 300;
const DRILL_BACKOFF = [300, 600, 1000];
const DRILL_REFRESH_WINDOW_MS = 1000;

/**
 * Starts the world once for all outbound drills of a run and rewrites the drill config: secret
 * files under the drill's state directory, shortened timeouts and retry intervals, and network
 * probes aimed at the stand-in's DNS server and port (the drill can only take down what it runs).
 */
export async function configureOutsideWorld(
  config: GuardianConfig,
  options: ConfigureOptions = {},
): Promise<GuardianConfig> {
  const first = config.egress.endpoints[0];
  if (!first)
    throw new Error(
      `${config.file} declares no egress endpoints; the outbound drills need them (see egress: in the repository's guardian.yaml)`,
    );
  const primaryUrl = new URL(first.url);
  if (!['127.0.0.1', 'localhost'].includes(primaryUrl.hostname))
    throw new Error(`the drill runs the remote API on loopback only; ${first.name} points at ${primaryUrl.host}`);
  const secretsDir = join(config.stateDir, 'secrets');
  // A recovering Guardian finds its egress state (offline flag, outbox, key slots) as it left it;
  // only the tokens the stand-in it restarts never issued go.
  if (!world) resetEgressState(config.stateDir, options.recovering ? 'tokens' : 'all');
  const credentials = config.credentials.map((c) => drillCredential(c, secretsDir));
  if (!world) world = await startWorld(config, credentials, secretsDir);
  users++;
  const primaryPort = world.primary.port;
  return {
    ...config,
    credentials: credentials.map((c) => ({ ...c, refreshBackoff: DRILL_REFRESH_WINDOW_MS, expirySkew: 0 })),
    egress: {
      ...config.egress,
      endpoints: config.egress.endpoints.map((e) => ({
        ...e,
        timeouts: DRILL_TIMEOUTS,
        retryInterval: DRILL_RETRY_MS,
      })),
    },
    network: {
      ...config.network,
      backoff: DRILL_BACKOFF,
      probes: {
        ...config.network.probes,
        dns: { resolver: `127.0.0.1:${world.primary.dnsPort}`, names: ['api.remote.test'] },
        tcp: [`127.0.0.1:${primaryPort}`],
        icmp: [],
      },
    },
  };
}

/** The running world (after configure). */
export function outsideWorld(): OutsideWorld {
  if (!world) throw new Error('the outside world is not running: configure was not called');
  return world;
}

/** Stops the world when the last outbound drill of the run is done. */
export async function teardownOutsideWorld(): Promise<void> {
  users = Math.max(0, users - 1);
  if (users > 0 || !world) return;
  const stopping = world;
  world = undefined;
  await stopping.primary.stop().catch(() => undefined);
  await stopping.backup?.stop().catch(() => undefined);
}

function drillCredential(c: CredentialSettings, dir: string): CredentialSettings {
  const file = (slot: string): SecretRef => ({ file: join(dir, `${c.name}.${slot}`) });
  return {
    ...c,
    ...(c.token ? { token: file('token') } : {}),
    ...(c.backup ? { backup: file('backup') } : {}),
    ...(c.oauth
      ? {
          oauth: {
            ...c.oauth,
            refreshToken: file('refresh'),
            ...(c.oauth.clientSecret ? { clientSecret: file('client-secret') } : {}),
          },
        }
      : {}),
  };
}

async function startWorld(
  config: GuardianConfig,
  credentials: CredentialSettings[],
  dir: string,
): Promise<OutsideWorld> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secrets = new Map<string, { token?: string; backup?: string; refresh?: string }>();
  const write = (ref: SecretRef | undefined, value: string) => {
    if (ref && 'file' in ref) writeFileSync(ref.file, `${value}\n`, { mode: 0o600 });
    return value;
  };
  const fresh = (name: string) => `${name}-${randomBytes(12).toString('hex')}`;
  for (const c of credentials) {
    secrets.set(c.name, {
      ...(c.token ? { token: write(c.token, fresh(c.name)) } : {}),
      ...(c.backup ? { backup: write(c.backup, fresh(`${c.name}-backup`)) } : {}),
      ...(c.oauth ? { refresh: write(c.oauth.refreshToken, fresh(`${c.name}-refresh`)) } : {}),
    });
    if (c.oauth?.clientSecret) write(c.oauth.clientSecret, fresh(`${c.name}-client`));
  }
  const keys = [...secrets.values()].flatMap((s) => [s.token, s.backup]).filter((k): k is string => k !== undefined);
  const refreshTokens = [...secrets.values()].map((s) => s.refresh).filter((k): k is string => k !== undefined);
  const port = Number(new URL(config.egress.endpoints[0]?.url ?? '').port || 80);
  const backupUrl = config.egress.endpoints.find((e) => e.backup)?.backup;
  const primary = await startRemoteApi({
    port,
    dnsPort: Number(process.env.REMOTE_API_DNS_PORT ?? 0),
    keys,
    refreshTokens,
    jwt: true,
  });
  const backup = backupUrl
    ? await startRemoteApi({ port: Number(new URL(backupUrl).port), keys, role: 'backup' })
    : undefined;
  return {
    primary,
    ...(backup ? { backup } : {}),
    secrets,
    rotate(credential) {
      const c = credentials.find((x) => x.name === credential);
      const value = write(c?.token, fresh(credential));
      secrets.set(credential, { ...secrets.get(credential), token: value });
      return value;
    },
  };
}

/**
 * A drill starts from a clean proxy: no circuit left open, no key slot or refreshed token from an
 * earlier drill (`all`); a recovery keeps the proxy's state and drops only the refreshed tokens
 * (`tokens`). Only ever in the drill's own state directory.
 */
function resetEgressState(stateDir: string, what: 'all' | 'tokens'): void {
  if (basename(stateDir) !== 'drill')
    throw new Error(`refusing to reset egress state outside a drill state directory: ${stateDir}`);
  if (what === 'all')
    for (const name of ['egress.db', 'egress.db-wal', 'egress.db-shm']) rmSync(join(stateDir, name), { force: true });
  rmSync(join(stateDir, 'credentials'), { recursive: true, force: true });
}
