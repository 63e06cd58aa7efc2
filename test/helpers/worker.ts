import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import type { GuardianConfig } from '../../lib/config/load.js';
import { Ledger } from '../../lib/ledger.js';
import { createLogger } from '../../lib/logger.js';
import type { ServiceControl } from '../../lib/service-control.js';
import { testClient, workflowBundle } from './temporal.js';

/** A worker on a test's own task queue, with Guardian's activities plus any extra ones. */
export interface TestWorker {
  client: Client;
  ledger: Ledger;
  stop(): Promise<void>;
}

/** Starts a real worker against the dev server for one test. */
export async function startTestWorker(
  config: GuardianConfig,
  options: { extraActivities?: object; workflowsPath?: string; control?: ServiceControl; ledger?: Ledger } = {},
): Promise<TestWorker> {
  const { client, connection, close } = await testClient();
  const ledger = options.ledger ?? new Ledger(join(config.stateDir, 'ledger.db'));
  const logger = createLogger('guardian-test');
  const worker = await Worker.create({
    connection,
    taskQueue: config.taskQueue,
    workflowBundle: await workflowBundle(
      options.workflowsPath ?? new URL('../fixtures/workflows.ts', import.meta.url).pathname,
    ),
    activities: {
      ...createActivities({ config, ledger, logger, ...(options.control ? { control: options.control } : {}) }),
      ...options.extraActivities,
    },
  });
  const running = worker.run();
  return {
    client,
    ledger,
    async stop() {
      worker.shutdown();
      await running;
      if (!options.ledger) ledger.close();
      await close();
    },
  };
}
