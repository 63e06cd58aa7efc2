import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { createLogger } from '../lib/logger.js';
import { portHolders, processInfo } from '../lib/proc.js';
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
  root,
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

async function guardianOn(name: string, port: number, options: { rangeSize?: number; clients?: boolean } = {}): Promise<GuardianRuntime> {
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
    writeFileSync(clientConfigs[1]!.path, `${JSON.stringify({ endpoints: { grace: { host: '127.0.0.1', port } } }, null, 2)}\n`);
  }
  const config = lifecycleConfig(dir, { port, rangeSize: options.rangeSize ?? 4, ...(clientConfigs ? { clientConfigs } : {}) });
  const runtime = await startTestGuardian(config);
  cleanups.push(() => runtime.stop());
  return runtime;
}

function track(holder: PortHolderProcess): PortHolderProcess {
  cleanups.push(() => holder.stop());
  return holder;
}

const clientYaml = (port: number) => `# how the desktop app reaches Grace\ngrace:\n  host: 127.0.0.1\n  port: ${port} # kept in step by Guardian\n`;

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
    assert.match(yamlText, /# how the desktop app reaches Grace[\s\S]*# kept in step by Guardian/, 'YAML comments survive');
    assert.equal(JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8')).endpoints.grace.port, port + 1);
    assert.match(record.alert ?? '', new RegExp(`held by pid ${holder.pid} \\(\\S*python3`));

    const handle = handleOf(runtime);
    assert.equal((await handle.query(statusQuery)).phase, 'rollback-window');
    await holder.stop();
    await handle.signal(rollbackSignal, 'test: port is free again');
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'rolled-back', result.summary);
    await waitFor('the service back on its preferred port', async () => (await runtime.control?.health().catch(() => undefined))?.port === port);
    assert.equal(runtime.registry.port('grace'), undefined, 'the original preference is back');
    assert.equal(readFileSync(join(dir, 'client.yaml'), 'utf8'), clientYaml(port), 'client files are back byte for byte');
    await recordHistory(handle, 'port-in-use-rolled-back');
  });
});
