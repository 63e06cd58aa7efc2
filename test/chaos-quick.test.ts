import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { connectClient } from '../lib/temporal.js';
import type { Mode } from '../workflows/definitions.js';
import type { ChaosFault } from './chaos/case.js';
import { runMatrix } from './chaos/matrix.js';

/**
 * The fault matrix's quick sample inside `npm test`: each fault kind once, each at another mode
 * and step, on a real Guardian process the hook can SIGKILL. `npm run chaos` runs the whole matrix.
 */
const SAMPLE: readonly { mode: Mode; fault: ChaosFault; offset: number; todo?: string }[] = [
  { mode: 'database-corruption', fault: 'rollback-during', offset: 3 },
  { mode: 'disk-full', fault: 'crash-after', offset: 1 },
  { mode: 'missing-config', fault: 'step-fails', offset: 2 },
  { mode: 'port-in-use', fault: 'crash-before', offset: 2 },
  { mode: 'network-unreachable', fault: 'alert-down', offset: 0 },
  { mode: 'model-server-down', fault: 'cancel-during', offset: 1 },
];

describe('fault matrix (quick sample)', () => {
  let client: Client;
  let root: string;
  before(async () => {
    client = await connectClient();
    root = mkdtempSync(join(tmpdir(), 'guardian-chaos-test-'));
  });
  after(async () => {
    await client.connection.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const { mode, fault, offset, todo } of SAMPLE) {
    const title = `${mode}: ${fault} leaves a final outcome, no data or file lost, the service up and no foreign process signalled`;
    // A known failure runs and reports, but does not fail the suite until its fix lands (then remove `todo`).
    test(title, todo ? { todo } : {}, async () => {
      const report = await runMatrix(client, {
        modes: [mode],
        faults: [fault],
        quick: true,
        offset,
        configFile: 'guardian.yaml',
        root,
      });
      assert.ok(report.cases >= 1, `${mode}: no case ran`);
      for (const row of report.rows) {
        assert.ok(row.pass, `${row.mode} ${row.fault} @ ${row.step} → ${row.outcome}: ${row.detail}`);
      }
    });
  }
});
