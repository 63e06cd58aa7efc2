import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { takeBackup } from '../lib/backups.js';
import { createLogger } from '../lib/logger.js';
import { IncidentStarter } from '../workers/incident-starter.js';
import { type IncidentResult, incidentWorkflowId } from '../workflows/definitions.js';
import { tempDir, testConfig } from './helpers/fixture.js';
import { seedDatabase } from './helpers/sqlite.js';
import { startTestWorker, type TestWorker } from './helpers/worker.js';

const tmp = tempDir();
const config = testConfig(tmp.dir, {
  databases: [
    { name: 'storm', path: join(tmp.dir, 'storm.db') },
    { name: 'joined', path: join(tmp.dir, 'joined.db') },
  ],
  incidents: { rollbackWindow: '3s', flap: { limit: 5, window: '10m' } },
});
let worker: TestWorker;

before(async () => {
  for (const db of config.databases) {
    seedDatabase(db.path, 100);
    await takeBackup(db, config.stateDir, 2);
  }
  worker = await startTestWorker(config);
});
after(async () => {
  await worker.stop();
  tmp.cleanup();
});

async function runsOf(workflowId: string): Promise<number> {
  let count = 0;
  for await (const _ of worker.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) count++;
  return count;
}

describe('incident starter', () => {
  it('turns 1,000 findings in a second into one workflow', async () => {
    const starter = new IncidentStarter(worker.client, config, createLogger('test'));
    const started = Date.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      sends.push(
        starter.report({
          mode: 'database-corruption',
          resource: 'storm',
          evidence: `finding ${i}`,
          detectedAt: Date.now(),
        }),
      );
    }
    await Promise.all(sends);
    assert.ok(Date.now() - started < 1000, 'all 1,000 reported within a second');
    assert.equal(starter.coalesced, 999);
    const id = incidentWorkflowId('database-corruption', config.host, 'storm');
    const result = (await worker.client.workflow.getHandle(id).result()) as IncidentResult;
    assert.equal(result.outcome, 'healed');
    await sleep(1000); // visibility is eventually consistent
    assert.equal(await runsOf(id), 1);
  });

  it('joins findings sent to a running incident instead of starting another (server side)', async () => {
    const starter = new IncidentStarter(worker.client, config, createLogger('test'), { coalesceMs: 0 });
    const base = Date.now();
    for (let i = 0; i < 20; i++) {
      await starter.report({
        mode: 'database-corruption',
        resource: 'joined',
        evidence: `finding ${i}`,
        detectedAt: base + i,
      });
    }
    const id = incidentWorkflowId('database-corruption', config.host, 'joined');
    const result = (await worker.client.workflow.getHandle(id).result()) as IncidentResult;
    assert.equal(result.outcome, 'healed');
    assert.match(result.summary, /more detection\(s\) joined/);
    await sleep(1000);
    assert.equal(await runsOf(id), 1);
  });
});
