// Silent damage in a cold page (a table no query reads) of a large database: found by the
// background scrub and healed; and the scrub's CPU share over a quiet window beforehand.
// Usage: node --import tsx bench/cold-page.ts [--size 1GB] [--window 600] [--repeat 3]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { damageColdPage, parseDatabaseSize, placeSizedDatabase } from '../drills/database-size.js';
import { takeBackup } from '../lib/backups.js';
import { parseConfig } from '../lib/config/load.js';
import { machineLine } from '../lib/machine.js';
import { median } from '../lib/stats.js';
import { startGuardian } from '../workers/guardian.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1GB' },
    window: { type: 'string', default: '600' },
    repeat: { type: 'string', default: '3' },
  },
});
const windowS = Number(values.window);
const dir = mkdtempSync(join(tmpdir(), 'guardian-cold-'));
console.log(machineLine());
try {
  mkdirSync(join(dir, 'db'));
  const path = join(dir, 'db', 'world_model.db');
  placeSizedDatabase(path, parseDatabaseSize(values.size));
  const config = parseConfig(
    stringify({
      host: `cold-${process.pid}`,
      stateDir: join(dir, 'state'),
      databases: [{ name: 'world_model', path, backups: { every: '1h', keep: 1 } }],
      incidents: { rollbackWindow: '1s', flap: { limit: 100, window: '10m' } },
    }),
    join(dir, 'guardian.yaml'),
  );
  const db = config.databases[0];
  if (!db) throw new Error('no database');
  await takeBackup(db, config.stateDir, 1);
  const runtime = await startGuardian({ config, superviseService: false });
  try {
    const scrub = runtime.scrub;
    if (!scrub) throw new Error('the scrub is not running');
    const cpu0 = scrub.stats().cpuMs;
    const process0 = process.cpuUsage();
    const t0 = Date.now();
    await sleep(windowS * 1000);
    const wall = Date.now() - t0;
    const stats = scrub.stats();
    const guardianCpu = process.cpuUsage(process0);
    console.log(
      `scrub over ${windowS} s guarding ${values.size}: ${stats.checks} checks, CPU ${(((stats.cpuMs - cpu0) / wall) * 100).toFixed(2)} % of one core ` +
        `(budget 2 %); Guardian's process in all ${(((guardianCpu.user + guardianCpu.system) / 1000 / wall) * 100).toFixed(2)} %`,
    );
    const detects: number[] = [];
    const totals: number[] = [];
    for (let run = 0; run < Number(values.repeat); run++) {
      const injectedAt = Date.now();
      const page = await damageColdPage(path);
      let record;
      for (let i = 0; i < 1800 && !record; i++) {
        await sleep(100);
        record = runtime.ledger
          .incidents({ mode: 'database-corruption', limit: 5 })
          .find((r) => r.detectedAt >= injectedAt && r.outcome !== 'healing');
      }
      if (!record?.healedAt) {
        console.log(`run ${run + 1}: not healed within 180 s (${record?.outcome ?? 'not detected'})`);
        continue;
      }
      detects.push(record.detectedAt - injectedAt);
      totals.push(record.healedAt - injectedAt);
      console.log(
        `run ${run + 1}: page ${page} of the cold table damaged; detected by the scrub after ${record.detectedAt - injectedAt} ms, ` +
          `healed after ${record.healedAt - injectedAt} ms (${record.evidence.slice(0, 60)})`,
      );
      await sleep(2000); // the rollback window closes
    }
    console.log(
      `cold-page damage in ${values.size}: ${totals.length}/${values.repeat} healed; detect median ${median(detects)} ms max ${Math.max(...detects)} ms; ` +
        `total median ${median(totals)} ms max ${Math.max(...totals)} ms (target 60000 ms)`,
    );
  } finally {
    await runtime.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
