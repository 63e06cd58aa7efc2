import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RemoteApi } from '../examples/remote-api/remote-api.mjs';
import { FAULT_FILE_ENV, type FaultPlan } from '../lib/fault-hook.js';
import type { GuardianRuntime } from '../workers/guardian.js';
import { type IncidentResult, incidentWorkflowId } from '../workflows/definitions.js';
import { tempDir } from './helpers/fixture.js';
import { callThroughService, remoteApi, startGuardedDemo, until, writeSecret } from './helpers/outside.js';

const tmp = tempDir();
const PRIMARY_KEY = 'primary-key-4f1d8a37';
const BACKUP_KEY = 'backup-key-92c6e0b4';
const faultFile = join(tmp.dir, 'faults.json');
let api: RemoteApi;
let runtime: GuardianRuntime;
let servicePort: number;

before(async () => {
  api = await remoteApi({ keys: [PRIMARY_KEY, BACKUP_KEY] });
  process.env.GUARDIAN_TEST_LEDGER_BACKUP = BACKUP_KEY;
  // The fault hook, armed as the fault matrix arms it: a named step fails for good after acting.
  writeFileSync(faultFile, JSON.stringify({ points: [] } satisfies FaultPlan));
  process.env[FAULT_FILE_ENV] = faultFile;
  ({ runtime, servicePort } = await startGuardedDemo(
    tmp.dir,
    {
      egress: {
        endpoints: [{ name: 'ledger', url: api.url, credential: 'ledger-key', timeouts: ['2s'], probePath: '/health' }],
      },
      credentials: [
        {
          name: 'ledger-key',
          token: { file: writeSecret(tmp.dir, 'ledger.key', PRIMARY_KEY) },
          backup: { env: 'GUARDIAN_TEST_LEDGER_BACKUP' },
        },
      ],
    },
    join(tmp.dir, 'guardian.log'),
  ));
});
after(async () => {
  delete process.env[FAULT_FILE_ENV];
  await runtime.stop();
  await api.stop();
  tmp.cleanup();
});

describe('invalid-credentials when a later step fails', () => {
  it('keeps the configured credential in use: the undo of the earlier switch to the backup key does not put the refused backup back', async () => {
    const egress = runtime.egress;
    assert.ok(egress);
    // An earlier incident left the backup key in use; now the endpoint refuses it and the primary.
    egress.credentials.use('ledger-key', 'backup');
    const workflowId = incidentWorkflowId('invalid-credentials', runtime.config.host, 'ledger');
    writeFileSync(
      faultFile,
      JSON.stringify({
        points: [{ id: 'log-fails', activity: 'logAuthenticationRequired', workflowId, fault: 'step-fails' }],
      } satisfies FaultPlan),
    );
    api.set({ keys: ['a-key-nobody-has'] });
    assert.equal((await callThroughService(servicePort, 'ledger', '/balance')).status, 401);

    const handle = await until(async () => {
      const h = runtime.client.workflow.getHandle(workflowId);
      return (await h.describe().catch(() => undefined)) ? h : undefined;
    }, 5000);
    const result = (await handle.result()) as IncidentResult;
    assert.equal(result.outcome, 'failed', result.summary);
    const steps = result.steps.map((s) => `${s.name}:${s.state}`);
    assert.deepEqual(steps, [
      'switch-to-backup-key:completed',
      'check-backup-key:completed',
      'disable-endpoint:completed',
      'use-configured-credential:completed',
      'log-authentication-required:failed',
    ]);
    assert.match(
      result.summary,
      /kept after the failure: switch-to-backup-key, disable-endpoint, use-configured-credential/,
    );
    assert.equal(egress.credentials.slot('ledger-key'), 'primary', 'the configured key, the one the user updates');
    assert.equal(egress.route('ledger').disabled, true, 'the endpoint stays disabled (cached replies only)');
  });
});
