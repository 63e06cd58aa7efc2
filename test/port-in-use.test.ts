import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { createLogger } from '../lib/logger.js';
import { portHolders, processInfo } from '../lib/proc.js';
import { ProcessRegistry } from '../lib/process-registry.js';
import { Supervisor } from '../lib/supervisor.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { type IncidentResult, incidentWorkflowId, rollbackSignal, statusQuery } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { recordHistory } from './helpers/history.js';
import {
  freePorts,
  holdPortWithHttpServer,
  holdPortWithSocket,
  lifecycleConfig,
  type PortHolderProcess,
  startTestGuardian,
  waitFor,
  waitForOutcome,
} from './helpers/lifecycle.js';

const tmp = tempDir();
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  tmp.cleanup();
});

async function guardianOn(
  name: string,
  port: number,
  options: { rangeSize?: number; clients?: boolean } = {},
): Promise<GuardianRuntime> {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const clientConfigs = options.clients
    ? [
        { path: join(dir, 'client.yaml'), key: 'grace.port' },
        { path: join(dir, 'client.json'), key: 'endpoints.grace.port' },
      ]
    : undefined;
  if (clientConfigs) {
    writeFileSync(clientConfigs[0]!.path, clientYaml(port));
    writeFileSync(
      clientConfigs[1]!.path,
      `${JSON.stringify({ endpoints: { grace: { host: '127.0.0.1', port } } }, null, 2)}\n`,
    );
  }
  const config = lifecycleConfig(dir, {
    port,
    rangeSize: options.rangeSize ?? 4,
    ...(clientConfigs ? { clientConfigs } : {}),
  });
  const runtime = await startTestGuardian(config);
  cleanups.push(() => runtime.stop());
  return runtime;
}

function track(holder: PortHolderProcess): PortHolderProcess {
  cleanups.push(() => holder.stop());
  return holder;
}

const clientYaml = (port: number) =>
  `# how the desktop app reaches Grace\ngrace:\n  host: 127.0.0.1\n  port: ${port} # kept in step by Guardian\n`;

const handleOf = (runtime: GuardianRuntime) =>
  runtime.client.workflow.getHandle(incidentWorkflowId('port-in-use', runtime.config.host, 'grace'));

describe('port-in-use', () => {
  it("moves the service to the next port when a socket is bound to its preferred port (the spec's scenario), and rolls back", async () => {
    const port = await freePorts(4);
    const holder = track(await holdPortWithSocket(port));
    const dir = join(tmp.dir, 'socket');
    const startedAt = Date.now();
    const runtime = await guardianOn('socket', port, { clients: true });
    const record = await waitForOutcome(runtime.ledger, 'port-in-use', startedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.equal(runtime.service?.port, port + 1);
    const health = await runtime.control?.health();
    assert.equal(health?.port, port + 1);
    assert.equal(health?.pid, runtime.supervisor?.running?.pid);
    assert.ok(holder.alive(), 'the socket holder was not touched');
    assert.equal(runtime.registry.port('grace')?.port, port + 1, 'the port registry records the move');
    const yamlText = readFileSync(join(dir, 'client.yaml'), 'utf8');
    assert.equal((parse(yamlText) as { grace: { port: number } }).grace.port, port + 1);
    assert.match(
      yamlText,
      /# how the desktop app reaches Grace[\s\S]*# kept in step by Guardian/,
      'YAML comments survive',
    );
    assert.equal(JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8')).endpoints.grace.port, port + 1);
    assert.match(record.alert ?? '', new RegExp(`held by pid ${holder.pid} \\(\\S*python3`));

    const handle = handleOf(runtime);
    assert.equal((await handle.query(statusQuery)).phase, 'rollback-window');
    await holder.stop();
    await handle.signal(rollbackSignal, 'test: port is free again');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    await waitFor(
      'the service back on its preferred port',
      async () => (await runtime.control?.health().catch(() => undefined))?.port === port,
    );
    assert.equal(runtime.registry.port('grace'), undefined, 'the original preference is back');
    assert.equal(
      readFileSync(join(dir, 'client.yaml'), 'utf8'),
      clientYaml(port),
      'client files are back byte for byte',
    );
    await recordHistory(handle, 'port-in-use-rolled-back');
  });

  it('on rollback while the old port is still taken, keeps the service running where it was moved, and says so', async () => {
    const port = await freePorts(4);
    const holder = track(await holdPortWithSocket(port));
    const startedAt = Date.now();
    const runtime = await guardianOn('still-taken', port, { clients: true });
    const record = await waitForOutcome(runtime.ledger, 'port-in-use', startedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    const pid = runtime.supervisor?.running?.pid;
    const handle = handleOf(runtime);
    await handle.signal(rollbackSignal, 'test: the holder is still there');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    assert.match(result.summary, new RegExp(`port ${port} is still taken .*keeps running on port ${port + 1}`));
    const health = await runtime.control?.health();
    assert.equal(health?.port, port + 1, 'still answering on the port it was moved to');
    assert.equal(runtime.supervisor?.running?.pid, pid, 'the same process: never stopped');
    assert.equal(runtime.registry.port('grace')?.port, port + 1, 'the registry stays in step with it');
    const yamlText = readFileSync(join(tmp.dir, 'still-taken', 'client.yaml'), 'utf8');
    assert.equal((parse(yamlText) as { grace: { port: number } }).grace.port, port + 1, 'so do the clients');
    assert.ok(holder.alive());
    await recordHistory(handle, 'port-in-use-rollback-port-still-taken');
  });

  it('leaves an external python3 -m http.server on the port running and moves the service', async () => {
    const port = await freePorts(4);
    const server = track(await holdPortWithHttpServer(port));
    const startedAt = Date.now();
    const runtime = await guardianOn('http-server', port);
    const record = await waitForOutcome(runtime.ledger, 'port-in-use', startedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.equal((await runtime.control?.health())?.port, port + 1);
    assert.ok(server.alive(), 'http.server still runs');
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200, 'and still serves its directory');
    const steps = (record.steps as { name: string }[]).map((s) => s.name);
    assert.ok(!steps.includes('stop-stale-process'));
    const closed = handleOf(runtime);
    await closed.result(); // the whole history, rollback window included
    await recordHistory(closed, 'port-in-use-http-server');
  });

  it('does not kill a reused PID: the registry names the PID, but the process now there started later', async () => {
    const port = await freePorts(4);
    const holder = track(await holdPortWithSocket(port));
    const info = processInfo(holder.pid);
    assert.ok(info);
    const dir = join(tmp.dir, 'reused-pid');
    mkdirSync(dir, { recursive: true });
    const config = lifecycleConfig(dir, { port });
    // What the registry would hold had an earlier Guardian started Grace under this PID, which the
    // kernel later gave to the python3 holder: same PID, an earlier start time, Grace's command line.
    const registry = new ProcessRegistry(join(config.stateDir, 'supervision.db'));
    registry.recordStart(
      'grace',
      { ...info, startTicks: info.startTicks - 500, argv: [config.service!.command, ...config.service!.args] },
      port,
    );
    assert.equal(registry.provenOwn(info), undefined, 'the registry does not prove the holder is ours');
    registry.close();
    const startedAt = Date.now();
    const runtime = await startTestGuardian(config);
    cleanups.push(() => runtime.stop());
    const record = await waitForOutcome(runtime.ledger, 'port-in-use', startedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    assert.ok(holder.alive(), 'the process at the recorded PID was not killed');
    assert.equal((await runtime.control?.health())?.port, port + 1);
    assert.ok(!(record.steps as { name: string }[]).some((s) => s.name === 'stop-stale-process'));
  });

  it("stops a stale instance of the service that Guardian's registry proves is its own, and reuses the port", async () => {
    const port = await freePorts(4);
    const runtime = await guardianOn('stale', port);
    await waitFor(
      'the service on its port',
      async () => (await runtime.control?.health().catch(() => undefined))?.port === port,
    );
    await runtime.service!.stop();
    // A Grace left behind by an earlier Guardian (a restart that never finished): registered, not supervised now.
    const leftover = new Supervisor(
      { ...runtime.supervisor!.spec, outputFile: join(tmp.dir, 'stale', 'leftover.out') },
      createLogger('test'),
      {
        registry: runtime.registry,
      },
    );
    const stale = leftover.start({ PORT: String(port), GRACE_HOME: join(tmp.dir, 'stale', 'grace-old') });
    cleanups.push(() => leftover.stop());
    await waitFor('the leftover to hold the port', () => portHolders(port).some((h) => h.pid === stale.pid), 10_000);
    const injectedAt = Date.now();
    await runtime.service!.startOn(port).catch(() => undefined); // finds the port taken
    const record = await waitForOutcome(runtime.ledger, 'port-in-use', injectedAt);
    assert.equal(record.outcome, 'healed', record.summary);
    const steps = (record.steps as { name: string }[]).map((s) => s.name);
    assert.deepEqual(steps, ['find-port-holder', 'stop-stale-process', 'restart-service', 'verify']);
    assert.equal(leftover.running, undefined, 'the stale instance is gone');
    const health = await runtime.control?.health();
    assert.equal(health?.port, port, 'the service got its port back');
    assert.equal(health?.pid, runtime.supervisor?.running?.pid);
    const closed = handleOf(runtime);
    await closed.result(); // the whole history, rollback window included
    await recordHistory(closed, 'port-in-use-stale-own-process');
  });

  it('fails with an alert when every port of the range is taken, touching none of the holders', async () => {
    const port = await freePorts(2);
    const holders = [track(await holdPortWithSocket(port)), track(await holdPortWithHttpServer(port + 1))];
    const startedAt = Date.now();
    const runtime = await guardianOn('exhausted', port, { rangeSize: 2 });
    await waitForOutcome(runtime.ledger, 'port-in-use', startedAt);
    const handle = handleOf(runtime);
    await handle.result(); // the failure alert is sent after the outcome is recorded
    const record = runtime.ledger.incident(handle.workflowId);
    assert.ok(record);
    assert.equal(record.outcome, 'failed', record.summary);
    assert.match(record.alert ?? '', new RegExp(`no free port for grace in ${port}–${port + 1}`));
    assert.ok(holders.every((h) => h.alive()));
    assert.equal(runtime.supervisor?.running, undefined, 'nothing was started');
    await recordHistory(handle, 'port-in-use-range-exhausted');
  });
});
