import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { createCredentialActivities } from '../activities/credentials.js';
import { createHttpActivities } from '../activities/http.js';
import { createNetworkActivities } from '../activities/network.js';
import type { RemoteApi } from '../examples/remote-api/remote-api.mjs';
import type { GuardianConfig } from '../lib/config/load.js';
import { createLogger } from '../lib/logger.js';
import { createNetworkProber } from '../lib/network-probe.js';
import type { CircuitWatchResult } from '../workflows/circuit-watch.js';
import type { CredentialWatchResult } from '../workflows/credential-watch.js';
import type { OfflineWatchResult } from '../workflows/offline-watch.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { remoteApi, startProxy, until, writeSecret } from './helpers/outside.js';
import { uniqueName } from './helpers/temporal.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const tmp = tempDir();
const KEY = 'watch-key-81c2e4';
let api: RemoteApi;
let config: GuardianConfig;
let proxy: Awaited<ReturnType<typeof startProxy>>;
let worker: TestWorker;
let watchProber: ReturnType<typeof createNetworkProber>;

before(async () => {
  api = await remoteApi({ dnsPort: 0, keys: [KEY] });
  config = testConfig(tmp.dir, {
    egress: {
      endpoints: [{ name: 'api', url: api.url, credential: 'api-key', timeouts: ['100ms'], probePath: '/health' }],
    },
    credentials: [{ name: 'api-key', token: { file: writeSecret(tmp.dir, 'api.key', KEY) } }],
  });
  proxy = await startProxy(config);
  const prober = (watchProber = createNetworkProber({
    interval: 100,
    timeout: 150,
    failedRounds: 2,
    dns: { resolver: `127.0.0.1:${api.dnsPort}`, names: ['api.remote.test'] },
    tcp: [`127.0.0.1:${api.port}`],
    icmp: [],
  }));
  const egress = proxy.proxy;
  worker = await startTestWorker(config, {
    extraActivities: {
      ...createNetworkActivities({ config, egress, prober }),
      ...createHttpActivities({ egress }),
      ...createCredentialActivities({ config, egress, logger: createLogger('guardian-test') }),
    },
  });
});
after(async () => {
  await worker.stop();
  await proxy.stop();
  if (api.listening) await api.stop();
  tmp.cleanup();
});

/** Number of runs a workflow went through (1 + its continue-as-new count), from the first run's chain. */
async function runsOf(handle: WorkflowHandleWithFirstExecutionRunId): Promise<number> {
  let runs = 0;
  let runId: string | undefined = handle.firstExecutionRunId;
  while (runId && runs < 100) {
    runs++;
    const history = await worker.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

describe('long-lived watches', () => {
  it('probes with backoff while offline, continuing as new every few probes, and returns when the network is back', async () => {
    await api.stop();
    proxy.proxy.setOffline(true); // network-unreachable enters offline mode before it starts the watch
    const handle = await worker.client.workflow.start('offlineWatch', {
      taskQueue: config.taskQueue,
      workflowId: uniqueName('offline-watch'),
      args: [{ backoffMs: [50, 100], maxOfflineMs: 60_000, probesPerRun: 2, startedAt: Date.now(), probes: 0 }],
    });
    await until(async () => (await runsOf(handle)) >= 2, 10_000);
    assert.equal(proxy.proxy.offline, true, 'failed rounds keep offline mode on');
    await api.start();
    const result = (await handle.result()) as OfflineWatchResult;
    assert.equal(result.restored, true);
    assert.ok(result.probes >= 3, `probes: ${result.probes}`);
    assert.ok((await runsOf(handle)) >= 2, 'continued as new');
    proxy.proxy.setOffline(false);
  });

  it('gives up after the longest offline time it may wait', async () => {
    await api.stop();
    try {
      const result = (await worker.client.workflow.execute('offlineWatch', {
        taskQueue: config.taskQueue,
        workflowId: uniqueName('offline-watch'),
        args: [{ backoffMs: [100], maxOfflineMs: 250, probesPerRun: 50, startedAt: Date.now(), probes: 0 }],
      })) as OfflineWatchResult;
      assert.equal(result.restored, false);
      assert.ok(result.probes <= 2);
    } finally {
      await api.start();
      proxy.proxy.setOffline(false);
    }
  });

  it('a failed probe round that ends after a rollback left offline mode does not turn offline mode back on', async () => {
    const { probeNetwork } = createNetworkActivities({ config, egress: proxy.proxy, prober: watchProber });
    await api.stop();
    try {
      proxy.proxy.setOffline(true);
      const round = probeNetwork({ holdOffline: true });
      proxy.proxy.setOffline(false); // the rollback's exit-offline-mode, while the round still runs
      assert.equal((await round).up, false);
      assert.equal(proxy.proxy.offline, false);
    } finally {
      await api.start();
      proxy.proxy.setOffline(false);
    }
  });

  it('a failed half-open trial that ends after a rollback closed the circuit leaves it closed', async () => {
    const { trialPrimary } = createHttpActivities({ egress: proxy.proxy });
    api.set({ delayMs: 5000 });
    try {
      proxy.proxy.setCircuit('api', 'open', 100);
      const trial = trialPrimary({ endpoint: 'api', timeoutMs: 200 });
      proxy.proxy.setCircuit('api', 'closed', 100); // the rollback's close-circuit, while the trial still runs
      assert.equal((await trial).ok, false);
      assert.equal(proxy.proxy.route('api').circuit, 'closed');
      // Without a rollback, a failed trial opens the circuit again.
      proxy.proxy.setCircuit('api', 'open', 100);
      assert.equal((await trialPrimary({ endpoint: 'api', timeoutMs: 200 })).ok, false);
      assert.equal(proxy.proxy.route('api').circuit, 'open');
    } finally {
      api.set({ delayMs: 0 });
      proxy.proxy.setCircuit('api', 'closed', 100);
    }
  });

  it('tries the primary once per interval with a timeout that shortens while it fails, and returns on the first good trial', async () => {
    api.set({ delayMs: 5000 });
    proxy.proxy.setCircuit('api', 'open', 100);
    const handle = await worker.client.workflow.start('circuitWatch', {
      taskQueue: config.taskQueue,
      workflowId: uniqueName('circuit-watch'),
      args: [
        {
          endpoint: 'api',
          timeoutsMs: [100, 50],
          retryIntervalMs: 50,
          maxOpenMs: 60_000,
          trialsPerRun: 2,
          startedAt: Date.now(),
          trials: 0,
        },
      ],
    });
    await until(() => proxy.proxy.route('api').timeoutMs === 50, 10_000);
    await until(async () => (await runsOf(handle)) >= 2, 10_000);
    assert.equal(proxy.proxy.route('api').circuit === 'closed', false);
    api.set({ delayMs: 0 });
    const result = (await handle.result()) as CircuitWatchResult;
    assert.equal(result.recovered, true);
    assert.ok(result.trials >= 3, `trials: ${result.trials}`);
    assert.ok((await runsOf(handle)) >= 2, 'continued as new');
    proxy.proxy.setCircuit('api', 'closed', 100);
  });

  it('does not resend a refused key while it is unchanged, and returns once an updated key is accepted', async () => {
    proxy.proxy.setOffline(false);
    proxy.proxy.setCircuit('api', 'closed', 100);
    api.set({ delayMs: 0, keys: ['the-new-one'] });
    const refused = await fetch(`${proxy.proxy.url}/api/x`, { headers: proxy.proxy.authHeaders });
    assert.equal(refused.status, 401);
    proxy.proxy.setDisabled('api', true, 'authentication required');
    const failuresBefore = api.stats.authFailures;
    const handle = await worker.client.workflow.start('credentialWatch', {
      taskQueue: config.taskQueue,
      workflowId: uniqueName('credential-watch'),
      args: [
        {
          endpoint: 'api',
          recheckIntervalMs: 50,
          maxWaitMs: 60_000,
          checksPerRun: 2,
          startedAt: Date.now(),
          checks: 0,
        },
      ],
    });
    await until(async () => (await runsOf(handle)) >= 3, 10_000);
    assert.equal(api.stats.authFailures, failuresBefore, 'the refused key was not sent again');
    writeFileSync(join(tmp.dir, 'secrets', 'api.key'), 'the-new-one\n');
    const result = (await handle.result()) as CredentialWatchResult;
    assert.equal(result.valid, true, result.detail);
    assert.ok((await runsOf(handle)) >= 2, 'continued as new');
    assert.equal(api.stats.authFailures, failuresBefore);
  });
});
