import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { temporalSettings } from '../../lib/temporal.js';

const root = new URL('../../', import.meta.url).pathname;

let runtimeInstalled = false;

/** The dev server the test run uses (started by `npm test` / .ci/run). */
export async function testClient(): Promise<{
  client: Client;
  connection: NativeConnection;
  close: () => Promise<void>;
}> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  const settings = temporalSettings();
  const clientConnection = await Connection.connect({ address: settings.address });
  const connection = await NativeConnection.connect({ address: settings.address });
  const client = new Client({ connection: clientConnection, namespace: settings.namespace });
  return {
    client,
    connection,
    close: async () => {
      await clientConnection.close();
      await connection.close();
    },
  };
}

/**
 * Bundles a workflows file once per content: test files share the bundle through a cache
 * directory, so each does not pay webpack's seconds again.
 */
export async function workflowBundle(workflowsPath = join(root, 'workflows/index.ts')): Promise<{ code: string }> {
  const hash = createHash('sha256');
  for (const dir of ['workflows', 'test/fixtures']) {
    for (const name of readdirSync(join(root, dir)).sort()) {
      if (name.endsWith('.ts')) hash.update(name).update(readFileSync(join(root, dir, name)));
    }
  }
  hash.update(workflowsPath);
  const cacheDir = join(root, 'node_modules/.cache/guardian-test');
  const file = join(cacheDir, `${hash.digest('hex').slice(0, 16)}.js`);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(file, bundle.code);
    return bundle;
  }
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};

/** A task queue and host name no other test shares. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
