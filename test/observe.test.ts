import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { plan } from '../cli/commands/plan.js';
import { type GuardianConfig, loadConfig } from '../lib/config/load.js';
import type { GuardianConfigInput } from '../lib/config/schema.js';
import { mountOf } from '../lib/disk.js';
import { MODES, type Mode } from '../lib/modes.js';
import { IncidentStarter } from '../workers/incident-starter.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import type { IncidentResult } from '../workflows/definitions.js';
import { captureStdout } from './helpers/capture.js';
import { tempDir } from './helpers/fixture.js';
import { freePorts, graceService, root, waitFor } from './helpers/lifecycle.js';
import { uniqueName, workflowBundle } from './helpers/temporal.js';

const tmp = tempDir();
const home = join(tmp.dir, 'grace');
let config: GuardianConfig;
let runtime: GuardianRuntime;

/** Every file under the demo's home and the client file, by path: size and SHA-256 (logs and -shm excluded: the service writes those itself). */
function fingerprint(): Map<string, string> {
  const prints = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && !path.includes('/logs/') && !path.endsWith('-shm') && !path.endsWith('-wal'))
        prints.set(path, createHash('sha256').update(readFileSync(path)).digest('hex'));
    }
  };
  walk(home);
  walk(join(tmp.dir, 'client'));
  return prints;
}

before(async () => {
  const port = await freePorts(8);
  const host = uniqueName('observe');
  mkdirSync(join(tmp.dir, 'client'), { recursive: true });
  writeFileSync(join(tmp.dir, 'client', 'client.json'), `${JSON.stringify({ grace: { port } })}\n`);
  mkdirSync(join(tmp.dir, 'secrets'), { recursive: true });
  writeFileSync(join(tmp.dir, 'secrets', 'key'), 'k1\n', { mode: 0o600 });
  for (const d of ['tmp', 'logs', 'snapshots']) mkdirSync(join(home, d), { recursive: true });
  writeFileSync(join(home, 'snapshots', 'snapshot-1.json'), '{}\n');
  const input: GuardianConfigInput = {
    host,
    taskQueue: `guardian@${host}`,
    stateDir: join(tmp.dir, 'state'),
    remediate: 'observe',
    metrics: { port: 0 },
    service: {
      ...graceService(home, port),
      clientConfigs: [{ path: join(tmp.dir, 'client', 'client.json'), key: 'grace.port' }],
    },
    modelServer: {
      name: 'ollama',
      url: `http://127.0.0.1:${port + 4}`,
      command: process.execPath,
      args: [join(root, 'examples/ollama-standin/serve.mjs')],
    },
    databases: [{ name: 'world_model', path: join(home, 'databases', 'world_model.db') }],
    configs: [
      {
        name: 'governance_policies',
        path: join(home, 'config', 'governance_policies.yaml'),
        schema: join(root, 'examples/grace/policies/governance_policies.schema.json'),
        defaults: join(root, 'examples/grace/policies/governance_policies.defaults.yaml'),
      },
    ],
    // A threshold no disk meets: the plan lists every cleanup.
    disk: {
      minFree: '100TB',
      temp: { dirs: [join(home, 'tmp')] },
      logs: { dirs: [join(home, 'logs')] },
      snapshots: { dirs: [join(home, 'snapshots')], keep: 1 },
    },
    egress: {
      endpoints: [
        {
          name: 'quotes',
          url: `http://127.0.0.1:${port + 5}/quotes`,
          backup: `http://127.0.0.1:${port + 6}/quotes`,
          credential: 'quotes-key',
        },
      ],
    },
    credentials: [
      {
        name: 'quotes-key',
        token: { file: join(tmp.dir, 'secrets', 'key') },
        oauth: {
          tokenUrl: `http://127.0.0.1:${port + 7}/oauth/token`,
          clientId: 'test',
          refreshToken: { file: join(tmp.dir, 'secrets', 'key') },
        },
      },
    ],
  };
  const file = join(tmp.dir, 'guardian.yaml');
  writeFileSync(file, stringify(input));
  config = loadConfig(file);
  runtime = await startGuardian({
    config,
    detect: false,
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
  await waitFor(
    'the demo to be healthy',
    async () => (await runtime.control?.health(500).catch(() => undefined))?.status === 'ok',
  );
  await runtime.backups.backupAll();
});
after(async () => {
  await runtime?.stop();
  tmp.cleanup();
});

const resources: Record<Mode, () => string> = {
  'database-corruption': () => 'world_model',
  'port-in-use': () => 'grace',
  'slow-boot': () => 'plugins',
  'out-of-memory': () => 'grace',
  'disk-full': () => mountOf(join(home, 'tmp')),
  'network-unreachable': () => 'network',
  'api-timeout': () => 'quotes',
  'missing-config': () => 'governance_policies',
  'invalid-credentials': () => 'quotes',
  'model-server-down': () => 'ollama',
  'service-down': () => 'grace',
};

describe('observe mode', () => {
  it('records a plan with a concrete target for every step of every mode, and changes no byte and no process', async () => {
    const before = fingerprint();
    const servicePid = runtime.supervisor?.running?.pid;
    const modelPid = runtime.modelServer?.supervisor.running?.pid;
    assert.ok(servicePid && modelPid && statSync(join(home, 'databases', 'world_model.db')).size > 0);
    const starter = new IncidentStarter(runtime.client, config, runtime.logger);
    const started = Date.now();
    for (const mode of MODES) {
      await starter.report({
        mode,
        resource: resources[mode](),
        evidence: mode === 'out-of-memory' ? 'service log: MemoryError' : 'test finding',
        detectedAt: Date.now(),
      });
    }
    for (const mode of MODES) {
      const record = await waitFor(`${mode} observed`, () =>
        runtime.ledger.incidents({ mode, limit: 5 }).find((r) => r.detectedAt >= started && r.outcome === 'observed'),
      );
      const result = (await runtime.client.workflow.getHandle(record.workflowId).result()) as IncidentResult;
      const planned = result.steps.filter((s) => s.state === 'planned');
      assert.ok(planned.length > 0, `${mode}: ${JSON.stringify(result.steps)}`);
      for (const step of planned)
        assert.ok(
          step.target && !step.target.includes('⟨'),
          `${mode} ${step.name} has a concrete target: ${step.target}`,
        );
      assert.ok(!result.summary.includes('planning stopped'), result.summary);
      const text = await captureStdout(() => plan(record.workflowId, {}));
      assert.match(text, new RegExp(`1\\. ${planned[0]?.name}: `));
    }
    const plans = runtime.ledger.incidents({ limit: 50 }).filter((r) => r.outcome === 'observed');
    const byMode = (m: Mode) => plans.find((r) => r.mode === m)?.steps as { name: string; target?: string }[];
    assert.match(
      byMode('database-corruption').find((s) => s.name === 'copy-aside')?.target ?? '',
      /world_model\.db, .*world_model\.db-wal/,
    );
    assert.deepEqual(
      byMode('disk-full')
        .filter((s) => s.name !== 'measure' && s.name !== 'verify')
        .map((s) => s.name),
      ['clear-temp', 'compress-old-logs', 'remove-old-snapshots', 'move-artifacts'],
    );
    assert.match(byMode('model-server-down').find((s) => s.name === 'start-model-server')?.target ?? '', /serve\.mjs/);
    const alerts = readFileSync(config.alerts.file ?? '', 'utf8');
    assert.match(alerts, /observe mode: Guardian would remediate database-corruption on world_model/);

    assert.deepEqual(fingerprint(), before);
    assert.equal(runtime.supervisor?.running?.pid, servicePid);
    assert.equal(runtime.modelServer?.supervisor.running?.pid, modelPid);
    assert.equal(runtime.egress?.offline, false);
    assert.equal(runtime.egress?.route('quotes').circuit, 'closed');
    assert.equal(runtime.egress?.route('quotes').disabled, false);
    assert.equal(runtime.registry.port('grace'), undefined);
    assert.deepEqual(runtime.registry.bootOverrides('grace'), []);
    assert.equal((await runtime.control?.health())?.lowMemory, false);
    assert.ok(!existsSync(join(config.stateDir, 'quarantine')));
  });

  it('starts no workflow for a mode set to off', async () => {
    const off = {
      ...config,
      remediate: { default: 'observe' as const, modes: { 'disk-full': 'off' as const }, resources: {} },
    };
    const starter = new IncidentStarter(runtime.client, off, runtime.logger);
    const at = Date.now();
    await starter.report({ mode: 'disk-full', resource: '/nowhere', evidence: 'test', detectedAt: at });
    await assert.rejects(
      runtime.client.workflow.getHandle(`disk-full:${config.host}:/nowhere`).describe(),
      (err: Error) => err.name === 'WorkflowNotFoundError',
    );
    // The same finding with the mode at observe does start one: the check above can fail.
    await new IncidentStarter(runtime.client, config, runtime.logger).report({
      mode: 'disk-full',
      resource: '/nowhere',
      evidence: 'test',
      detectedAt: at,
    });
    assert.ok(await runtime.client.workflow.getHandle(`disk-full:${config.host}:/nowhere`).describe());
  });
});
