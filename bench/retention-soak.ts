// A soak of database incidents with retention at its defaults: Guardian's state directory is
// measured before, every 50 incidents (after a retention pass, as its schedule would run) and after.
// Usage: node --import tsx bench/retention-soak.ts [--incidents 200]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { drillConfig } from '../drills/config.js';
import { databaseCorruptionDrill } from '../drills/database-corruption.js';
import { runDrills } from '../drills/runner.js';
import { type ModeDrill, ownGuardian } from '../drills/types.js';
import { machineLine } from '../lib/machine.js';
import { stateSize } from '../lib/state-size.js';

const { values } = parseArgs({ options: { incidents: { type: 'string', default: '200' } } });
const incidents = Number(values.incidents);
const stateDir = mkdtempSync(join(tmpdir(), 'guardian-soak-'));
const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

/** Guardian's own state: everything in the state directory but the demo service's home. */
async function guardianState(): Promise<{ total: number; line: string }> {
  const { parts } = await stateSize(stateDir);
  const own = parts.filter((p) => p.name !== 'grace');
  const total = own.reduce((n, p) => n + p.bytes, 0);
  return { total, line: `${kib(total)} (${own.map((p) => `${p.name} ${kib(p.bytes)}`).join(', ')})` };
}

console.log(machineLine());
try {
  const config = await drillConfig('guardian.yaml', { stateDir, hostSuffix: `soak-${process.pid}` });
  const sizes: number[] = [];
  const drill: ModeDrill = {
    ...databaseCorruptionDrill,
    async prepare(env) {
      await databaseCorruptionDrill.prepare?.(env);
      const before = await guardianState();
      sizes.push(before.total);
      console.log(`before: Guardian's state ${before.line}`);
    },
    async inject(env, run) {
      if (run > 0 && run % 50 === 0) {
        const pass = await ownGuardian(env).retention.run();
        const now = await guardianState();
        sizes.push(now.total);
        console.log(
          `after ${run} incidents (retention removed ${pass.pruned.length}, ${pass.ledgerRows} ledger rows): ${now.line}`,
        );
      }
      return databaseCorruptionDrill.inject(env, run);
    },
  };
  const report = await runDrills(config, [drill], { repeat: incidents, onProgress: () => undefined });
  const m = report.modes[0];
  console.log(`${m?.runs} incidents, ${m?.healed} healed; total MTTR p50 ${m?.p50Ms} ms p95 ${m?.p95Ms} ms`);
  const after = await guardianState();
  console.log(`after ${incidents} incidents: Guardian's state ${after.line}`);
  console.log(`largest state seen at a checkpoint: ${kib(Math.max(...sizes, after.total))}`);
} finally {
  rmSync(stateDir, { recursive: true, force: true });
}
