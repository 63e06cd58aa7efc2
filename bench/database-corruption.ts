// Total MTTR of database-corruption on the demo service for a 10 MB and a 100 MB database.
// Usage: node --import tsx bench/database-corruption.ts [--repeat 10] [--sizes 10,100]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { drillConfig } from '../drills/config.js';
import { databaseCorruptionDrill } from '../drills/database-corruption.js';
import { runDrills } from '../drills/runner.js';
import { type ModeDrill, ownGuardian } from '../drills/types.js';
import { machineLine } from '../lib/machine.js';

const { values } = parseArgs({
  options: { repeat: { type: 'string', default: '10' }, sizes: { type: 'string', default: '10,100' } },
});
const repeat = Number(values.repeat);

/** Grows the demo's world model to at least `bytes` with real rows, then checkpoints them into the file. */
function grow(path: string, bytes: number): void {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  const insert = db.prepare('INSERT INTO entities (name, data) VALUES (?, ?)');
  const payload = 'y'.repeat(1000);
  let i = 0;
  while (statSync(path).size < bytes) {
    db.transaction(() => {
      for (let n = 0; n < 5000; n++, i++) insert.run(`bench-${i}`, payload);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  db.close();
}

console.log(machineLine());
for (const mb of values.sizes.split(',').map(Number)) {
  const stateDir = mkdtempSync(join(tmpdir(), 'guardian-bench-'));
  try {
    const config = await drillConfig('guardian.yaml', { stateDir, hostSuffix: 'bench' });
    const world = config.databases.find((d) => d.name === 'world_model');
    if (!world) throw new Error('guardian.yaml guards no world_model database');
    const drill: ModeDrill = {
      ...databaseCorruptionDrill,
      async prepare(env) {
        grow(world.path, mb * 1024 * 1024);
        await ownGuardian(env).backups.backupAll();
      },
    };
    const report = await runDrills(config, [drill], {
      repeat,
      onProgress: (line) => process.stderr.write(`${line}\n`),
    });
    const m = report.modes[0];
    console.log(
      `database-corruption ${mb} MB (file ${(statSync(world.path).size / 2 ** 20).toFixed(1)} MiB): runs ${m?.runs} healed ${m?.healed} ` +
        `detect p50 ${m?.detectP50Ms} ms, total MTTR p50 ${m?.p50Ms} ms p95 ${m?.p95Ms} ms max ${m?.maxMs} ms`,
    );
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}
