import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WatchedConfig } from '../lib/config/resources.js';
import type { DrillEnvironment, ModeDrill } from './types.js';

/** Ways to lose or break a config file, each one the service really notices. */
export const configFaults = {
  /** The spec's scenario: the file is deleted. */
  async delete(path: string) {
    await rm(path, { force: true });
  },
  /** A YAML syntax error: an unclosed flow sequence. */
  async 'syntax-error'(path: string) {
    await writeFile(path, 'version: 1\npolicies: [ { name: local-models, allow: true }\nlimits: {\n');
  },
  /** Parses, but fails the schema: concurrency 0. */
  async 'schema-violation'(path: string) {
    await writeFile(path, 'version: 1\npolicies: []\nlimits: { maxConcurrency: 0, cacheEntries: 10 }\n');
  },
  /** The file replaced by a directory of the same name. */
  async directory(path: string) {
    await rm(path, { recursive: true, force: true });
    await mkdir(path);
    await writeFile(join(path, 'README'), 'not a config file\n');
  },
} as const;

function governancePolicies(env: DrillEnvironment): WatchedConfig {
  const config =
    env.runtime.config.configs.find((c) => c.name === 'governance_policies') ?? env.runtime.config.configs[0];
  if (!config) throw new Error('the drill config watches no config file (configs: in guardian.yaml)');
  return config;
}

/** The config drill: breaks the demo's governance_policies.yaml for real; variants cycle per run. */
export const missingConfigDrill: ModeDrill = {
  mode: 'missing-config',
  targetMs: 10_000,
  attachable: true,
  async inject(env, run) {
    const config = governancePolicies(env);
    const names = Object.keys(configFaults) as (keyof typeof configFaults)[];
    const variant = names[run % names.length] ?? 'delete';
    // The file as it was: on a running Guardian's demo it may be the operator's own.
    const original = await readFile(config.path).catch(() => undefined);
    await configFaults[variant](config.path);
    return {
      resource: config.name,
      injectedAt: Date.now(),
      variant,
      // A run that did not heal must not leave the next one (or the demo) without its config.
      cleanup: async () => {
        const now = await readFile(config.path).catch(() => undefined);
        const replacement = original ?? (now === undefined && config.defaults ? await readFile(config.defaults) : now);
        if (replacement === undefined || (now !== undefined && now.equals(replacement))) return;
        await rm(config.path, { recursive: true, force: true });
        await writeFile(config.path, replacement);
      },
    };
  },
};
