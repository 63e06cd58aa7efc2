import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkConfig } from '../cli/commands/check-config.js';
import { incidents } from '../cli/commands/incidents.js';
import { selectDrills } from '../cli/commands/drill.js';
import { main } from '../cli/main.js';
import { ConfigError, UsageError } from '../lib/errors.js';
import { Ledger } from '../lib/ledger.js';
import { tempDir } from './helpers/fixture.js';
import { captureStdout } from './helpers/capture.js';

const tmp = tempDir();
after(() => tmp.cleanup());

describe('guardian CLI', () => {
  it('names the key, the problem and an example for each error in guardian.yaml', async () => {
    const file = join(tmp.dir, 'bad.yaml');
    writeFileSync(file, 'databases:\n  - name: 3\n    path: [x]\nincidents:\n  rollbackWindow: soon\nunknownKey: 1\n');
    await assert.rejects(checkConfig(file, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const keys = err.problems.map((p) => p.key);
      assert.ok(keys.includes('databases[0].name'), keys.join());
      assert.ok(keys.includes('incidents.rollbackWindow'), keys.join());
      assert.match(err.message, /for example: "world_model"/);
      assert.match(err.message, /Unrecognized key: "unknownKey"/);
      assert.match(err.message, /"soon" is not a duration/);
      return true;
    });
  });

  it('reports a YAML syntax error with its line, and a missing file by name', async () => {
    const file = join(tmp.dir, 'syntax.yaml');
    writeFileSync(file, 'databases: [\n  name: x\n');
    await assert.rejects(checkConfig(file, {}), /line \d/);
    await assert.rejects(checkConfig(join(tmp.dir, 'nope.yaml'), {}), /file not found/);
  });

  it('prints the JSON Schema of guardian.yaml for editors', async () => {
    const schema = JSON.parse(await captureStdout(() => checkConfig(undefined, { schema: true }))) as {
      properties: object;
    };
    assert.ok('databases' in schema.properties && 'service' in schema.properties);
  });

  it('lists incidents from the ledger as JSON', async () => {
    const stateDir = join(tmp.dir, 'state');
    const file = join(tmp.dir, 'guardian.yaml');
    writeFileSync(file, `stateDir: ${stateDir}\n`);
    const ledger = new Ledger(join(stateDir, 'ledger.db'));
    ledger.openIncident(
      {
        workflowId: 'w1',
        runId: 'r1',
        mode: 'database-corruption',
        host: 'h',
        resource: 'db',
        evidence: 'e',
        detectedAt: 1,
        injectedAt: null,
      },
      { limit: 5, windowMs: 1000 },
    );
    ledger.close();
    const rows = JSON.parse(await captureStdout(() => incidents({ config: file, json: true, limit: '10' }))) as {
      workflowId: string;
    }[];
    assert.deepEqual(
      rows.map((r) => r.workflowId),
      ['w1'],
    );
    await assert.rejects(incidents({ config: file, limit: 'ten' }), UsageError);
    await assert.rejects(incidents({ config: file, limit: '5', mode: 'bogus' }), /unknown mode "bogus"/);
  });

  it('rejects unknown drill modes and unknown commands with a usage error', async () => {
    assert.throws(() => selectDrills(['bogus']), /unknown mode "bogus"/);
    const code = process.exitCode;
    const stderr = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await main(['node', 'guardian', 'frobnicate']);
      assert.equal(process.exitCode, 2);
    } finally {
      process.stderr.write = stderr;
      process.exitCode = code;
    }
  });
});
