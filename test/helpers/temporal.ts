import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { temporalSettings } from '../../lib/temporal.js';

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

export { workflowBundle } from '../../lib/workflow-bundle.js';

/** A task queue and host name no other test shares. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
