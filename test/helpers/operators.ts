import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type GuardianConfig, loadConfig } from '../../lib/config/load.js';
import type { GuardianConfigInput } from '../../lib/config/schema.js';
import type { GuardianRuntime } from '../../workers/guardian.js';
import { freePorts, graceService, waitFor } from './lifecycle.js';
import { uniqueName } from './temporal.js';

/**
 * A guardian.yaml on disk under `dir` (the CLI commands read it): the demo service on four ports
 * from `preferred`, three databases, one egress endpoint, a short rollback window.
 */
export async function writeOperatorsConfig(
  dir: string,
  extra: Partial<GuardianConfigInput> = {},
): Promise<{ config: GuardianConfig; preferred: number }> {
  const preferred = await freePorts(4);
  const home = join(dir, 'grace');
  const host = uniqueName('operators');
  const input: GuardianConfigInput = {
    host,
    taskQueue: `guardian@${host}`,
    stateDir: join(dir, 'state'),
    incidents: { rollbackWindow: '500ms', flap: { limit: 100, window: '10m' } },
    metrics: { port: 0 },
    service: {
      ...graceService(home, preferred),
    },
    databases: ['world_model', 'metrics', 'audit'].map((name) => ({
      name,
      path: join(home, 'databases', `${name}.db`),
    })),
    egress: {
      endpoints: [{ name: 'quotes', url: `http://127.0.0.1:${preferred + 3}/quotes`, timeouts: ['3s', '1s'] }],
    },
    ...extra,
  };
  const file = join(dir, 'guardian.yaml');
  writeFileSync(file, stringify(input));
  return { config: loadConfig(file), preferred };
}

/** Waits until the demo service reports `ok` on its health route. */
export async function demoHealthy(runtime: GuardianRuntime): Promise<void> {
  await waitFor(
    'the demo to be healthy',
    async () => (await runtime.control?.health(500).catch(() => undefined))?.status === 'ok',
  );
}

/** Runs `fn` and returns what it wrote to stderr (and keeps it off the terminal). */
export async function captureStderr(fn: () => Promise<unknown>): Promise<{ value: unknown; text: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => chunks.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, text: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}
