import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { drill } from '../cli/commands/drill.js';
import { loadConfig } from '../lib/config/load.js';
import { Ledger } from '../lib/ledger.js';
import { acquireStateDirLock } from '../lib/pid-lock.js';
import { type GuardianRuntime, startGuardian } from '../workers/guardian.js';
import { tempDir } from './helpers/fixture.js';
import { uniqueName, workflowBundle } from './helpers/temporal.js';

const root = new URL('../', import.meta.url).pathname;
const defaults = join(root, 'examples/grace/policies/governance_policies.defaults.yaml');
const tmp = tempDir();
const stateDir = join(tmp.dir, 'state');
const host = uniqueName('drill-running');
const file = join(tmp.dir, 'guardian.yaml');
const savedHome = process.env.GRACE_HOME;
let runtime: GuardianRuntime;
let release: () => void;

/** The demo's config file under a GRACE_HOME, present and valid as a running demo has it. */
function placePolicies(home: string): void {
  mkdirSync(join(home, 'config'), { recursive: true });
  copyFileSync(defaults, join(home, 'config', 'governance_policies.yaml'));
}

before(async () => {
  delete process.env.GRACE_HOME;
  writeFileSync(
    file,
    stringify({
      host,
      taskQueue: `guardian@${host}`,
      stateDir,
      incidents: { rollbackWindow: '2s', flap: { limit: 5, window: '10m' } },
      metrics: { port: 0 },
      configs: [
        {
          name: 'governance_policies',
          path: `\${GRACE_HOME:-${stateDir}/grace}/config/governance_policies.yaml`,
          schema: join(root, 'examples/grace/policies/governance_policies.schema.json'),
          defaults,
        },
      ],
    }),
  );
  placePolicies(join(stateDir, 'grace'));
  placePolicies(join(stateDir, 'drill', 'grace'));
  // As `guardian up` does: the state directory's lock, then Guardian.
  release = acquireStateDirLock(stateDir);
  runtime = await startGuardian({
    config: loadConfig(file),
    ensureDevServer: false,
    workflowBundle: await workflowBundle(join(root, 'workflows/index.ts')),
  });
});
after(async () => {
  await runtime.stop();
  release();
  if (savedHome === undefined) delete process.env.GRACE_HOME;
  else process.env.GRACE_HOME = savedHome;
  tmp.cleanup();
});

const missingConfigIncidents = (ledger: Ledger) => ledger.incidents({ mode: 'missing-config' });

/**
 * Runs `guardian drill missing-config --json` and returns its summary. Only text is captured: the
 * test runner's own messages (bytes) go on to it.
 */
async function drillMissingConfig(isolated: boolean): Promise<{ modes: { mode: string; healed: number }[] }> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await drill(['missing-config'], { config: file, repeat: '1', json: true, ...(isolated ? { isolated } : {}) });
  } finally {
    process.stdout.write = write;
  }
  return JSON.parse(out) as { modes: { mode: string; healed: number }[] };
}

describe('guardian drill acts on the Guardian that runs on its state directory', () => {
  it("opens its incident in the running Guardian's ledger and under its host in Temporal", async () => {
    const report = await drillMissingConfig(false);
    assert.deepEqual(
      report.modes.map((m) => [m.mode, m.healed]),
      [['missing-config', 1]],
    );
    const records = missingConfigIncidents(runtime.ledger);
    assert.equal(records.length, 1);
    assert.equal(records[0]?.host, host);
    assert.equal(records[0]?.outcome, 'healed');
    let listed: string[] = [];
    for (let i = 0; i < 40 && listed.length === 0; i++) {
      listed = [];
      const query = `GuardianHost = "${host}" AND GuardianMode = "missing-config"`;
      for await (const wf of runtime.client.workflow.list({ query })) listed.push(wf.workflowId);
      if (listed.length === 0) await sleep(250); // visibility is eventually consistent
    }
    assert.deepEqual(listed, [`missing-config:${host}:governance_policies`]);
  });

  it('with --isolated, starts a Guardian of its own and leaves the running one without an incident', async () => {
    const before = missingConfigIncidents(runtime.ledger).length;
    const report = await drillMissingConfig(true);
    assert.deepEqual(
      report.modes.map((m) => [m.mode, m.healed]),
      [['missing-config', 1]],
    );
    assert.equal(missingConfigIncidents(runtime.ledger).length, before, "no incident in the running Guardian's ledger");
    const own = new Ledger(join(stateDir, 'drill', 'ledger.db'));
    try {
      assert.ok(missingConfigIncidents(own).some((r) => r.host === `${host}-drill` && r.outcome === 'healed'));
    } finally {
      own.close();
    }
  });
});
