import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createServiceFeatureActivities, type FeatureSwitch } from '../../activities/service-feature.js';
import { ProcessRegistry } from '../../lib/process-registry.js';
import { ServiceControl } from '../../lib/service-control.js';
import { tempDir, testConfig } from '../helpers/fixture.js';
import { root } from '../helpers/lifecycle.js';

const tmp = tempDir();
const config = testConfig(tmp.dir);
/** The service's side of the contract: its features, and a process to kill inside the next `feature` call. */
const disabled = new Set<string>();
let killInsideHook: number | undefined;
let service: Server;
let port: number;

before(async () => {
  service = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/guardian/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ status: 'ok', disabledFeatures: [...disabled] }));
      }
      const { name, enabled } = JSON.parse(body) as { name: string; enabled: boolean };
      const previous = !disabled.has(name);
      if (enabled) disabled.delete(name);
      else disabled.add(name);
      if (killInsideHook !== undefined) {
        // The hook has acted; Guardian dies before it hears so.
        process.kill(killInsideHook, 'SIGKILL');
        killInsideHook = undefined;
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ previous }));
    });
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  port = (service.address() as AddressInfo).port;
});
after(async () => {
  service.closeAllConnections();
  await new Promise<void>((resolve) => service.close(() => resolve()));
  tmp.cleanup();
});

/** The step `1` of run `runId`, run here (a restarted Guardian's worker). */
async function inProcess(runId: string, enabled: boolean): Promise<FeatureSwitch> {
  const registry = new ProcessRegistry(join(config.stateDir, 'supervision.db'));
  try {
    const control = new ServiceControl({ port: () => port, token: 'feature-test' });
    const { setServiceFeature } = createServiceFeatureActivities({ config, control, registry });
    const env = new MockActivityEnvironment({ activityId: '1', workflowExecution: { workflowId: 'w', runId } });
    return (await env.run(setServiceFeature, { name: 'ai', enabled })) as FeatureSwitch;
  } finally {
    registry.close();
  }
}

const marked = () => {
  const registry = new ProcessRegistry(join(config.stateDir, 'supervision.db'));
  try {
    return registry.featureDegraded('service', 'ai');
  } finally {
    registry.close();
  }
};

describe('setServiceFeature', () => {
  it('when Guardian dies between the hook and its reply, the feature is marked as switched off by Guardian and the re-run says it was on', async () => {
    disabled.clear();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'test/fixtures/feature-once.ts'), tmp.dir, String(port), 'crash-run', 'off'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    killInsideHook = child.pid;
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', 'Guardian died inside the hook call');
    assert.deepEqual([...disabled], ['ai'], 'the hook acted: AI is off');
    assert.equal(marked(), true, 'the mark was made before the hook');

    // The re-run of the same step (the restarted worker): the journaled state, not the hook's second answer.
    const rerun = await inProcess('crash-run', false);
    assert.deepEqual(rerun, { applied: true, previous: true, byGuardian: false });
    // So the undo (rollback) or guardian clear switches it back on, and the mark goes.
    await inProcess('undo-run', true);
    assert.deepEqual([...disabled], []);
    assert.equal(marked(), false);
  });

  it("never takes a feature the operator switched off for Guardian's", async () => {
    disabled.clear();
    disabled.add('ai');
    const result = await inProcess('operator-run', false);
    assert.deepEqual(result, { applied: true, previous: false, byGuardian: false });
    assert.equal(marked(), false, 'no mark: a rollback leaves the operator’s choice alone');
  });
});
