import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type GuardianConfig, parseConfig } from '../../lib/config/load.js';
import type { GuardianConfigInput } from '../../lib/config/schema.js';
import { uniqueName } from './temporal.js';

/** A temporary directory removed by `cleanup`. */
export function tempDir(prefix = 'guardian-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A validated config for a test: its own host, task queue and state directory under `dir`. */
export function testConfig(dir: string, overrides: Partial<GuardianConfigInput> = {}): GuardianConfig {
  const host = uniqueName('test');
  const input: GuardianConfigInput = {
    host,
    taskQueue: `guardian@${host}`,
    stateDir: join(dir, 'state'),
    incidents: { rollbackWindow: '2s', flap: { limit: 5, window: '10m' } },
    metrics: { port: 0 },
    ...overrides,
  };
  return parseConfig(stringify(input), join(dir, 'guardian.yaml'));
}
