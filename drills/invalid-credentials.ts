import { setTimeout as sleep } from 'node:timers/promises';
import { configureOutsideWorld, outsideWorld, teardownOutsideWorld } from './outside-world.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** After this long, the "user" puts a new key in place for the variant that needs a person. */
const USER_FIX_MS = 500;

async function callThroughService(env: DrillEnvironment, endpoint: string): Promise<number> {
  const res = await fetch(
    `http://127.0.0.1:${env.runtime.service?.port ?? env.servicePort()}/api/external/${endpoint}?path=/today`,
    { signal: AbortSignal.timeout(10_000) },
  );
  await res.arrayBuffer();
  return res.status;
}

type Variant = 'oauth-refresh' | 'backup-key' | 'no-fallback';

/** Which endpoint exercises which remedy, from the credentials guardian.yaml declares. */
function scenarios(env: DrillEnvironment): { variant: Variant; endpoint: string; credential: string }[] {
  const { egress, credentials } = env.runtime.config;
  const pick = (test: (c: (typeof credentials)[number]) => boolean) => {
    const endpoint = egress.endpoints.find((e) => credentials.some((c) => c.name === e.credential && test(c)));
    return endpoint?.credential ? { endpoint: endpoint.name, credential: endpoint.credential } : undefined;
  };
  const found = [
    { variant: 'oauth-refresh' as const, ...pick((c) => c.oauth !== undefined) },
    { variant: 'backup-key' as const, ...pick((c) => c.backup !== undefined && c.oauth === undefined) },
    { variant: 'no-fallback' as const, ...pick((c) => c.backup === undefined && c.oauth === undefined) },
  ];
  return found.filter((s): s is { variant: Variant; endpoint: string; credential: string } => s.endpoint !== undefined);
}

/** Every key the stand-in should accept, except those of `credential` (which the drill revokes). */
function keysWithout(credential: string): string[] {
  const { secrets } = outsideWorld();
  return [...secrets]
    .filter(([name]) => name !== credential)
    .flatMap(([, s]) => [s.token, s.backup])
    .filter((k): k is string => k !== undefined);
}

/**
 * The credentials drill: the remote API stops accepting an endpoint's credential for real; the
 * demo service's next call through the proxy gets 401/403 (the measured time runs from that
 * call). Variants: an OAuth access token refused (refresh grant), an API key refused (backup key),
 * a key with neither (the endpoint is disabled until the "user" installs a new key).
 */
export const invalidCredentialsDrill: ModeDrill = {
  mode: 'invalid-credentials',
  targetMs: 5000,
  configure: configureOutsideWorld,
  teardown: teardownOutsideWorld,
  async prepare(env) {
    for (const s of scenarios(env)) await callThroughService(env, s.endpoint);
  },
  async inject(env, run) {
    const all = scenarios(env);
    const scenario = all[run % all.length];
    if (!scenario) throw new Error('the drill config has no endpoint with a credential');
    const { primary, backup, secrets } = outsideWorld();
    const accept = (keys: string[]) => {
      primary.set({ keys });
      backup?.set({ keys });
    };
    const own = secrets.get(scenario.credential) ?? {};
    // The endpoint now refuses the credential in use (a backup key stays valid).
    accept([
      ...keysWithout(scenario.credential),
      ...(scenario.variant === 'backup-key' && own.backup ? [own.backup] : []),
    ]);
    const injectedAt = Date.now();
    const status = await callThroughService(env, scenario.endpoint);
    if (status !== 401 && status !== 403)
      throw new Error(`${scenario.endpoint} answered ${status} to a revoked credential`);
    const userFix =
      scenario.variant === 'no-fallback'
        ? sleep(USER_FIX_MS).then(() => {
            const fresh = outsideWorld().rotate(scenario.credential);
            accept([...keysWithout(scenario.credential), fresh]);
          })
        : Promise.resolve();
    return {
      resource: scenario.endpoint,
      injectedAt,
      variant: scenario.variant,
      cleanup: async () => {
        await userFix;
        // The next backup-key run starts from a (new) configured key again; the other variants
        // leave the remote accepting what the proxy now sends (the refreshed token, the new key).
        if (scenario.variant === 'backup-key') {
          const fresh = outsideWorld().rotate(scenario.credential);
          env.runtime.egress?.credentials.use(scenario.credential, 'primary');
          accept([...(primary.behaviour.keys ?? []), fresh]);
        }
      },
    };
  },
};
