// Orchestration overhead: the database-corruption remediation's activities called directly in
// one process, versus the same activities run by the workflow through Temporal, interleaved in
// one run. Usage: node --import tsx bench/overhead.ts [--runs 20]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { stringify } from 'yaml';
import { createActivities } from '../activities/index.js';
import { corruptions } from '../drills/database-corruption.js';
import { takeBackup } from '../lib/backups.js';
import { parseConfig } from '../lib/config/load.js';
import { Ledger } from '../lib/ledger.js';
import { createLogger } from '../lib/logger.js';
import { median, percentile } from '../lib/stats.js';
import { startGuardian } from '../workers/guardian.js';
import type { IncidentInput, IncidentResult } from '../workflows/definitions.js';
import { seedDatabase } from '../test/helpers/sqlite.js';
import { machineLine } from '../lib/machine.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), 'guardian-overhead-'));
const host = `bench-${process.pid}`;
const names = ['direct', 'temporal'];
const config = parseConfig(
  stringify({
    host,
    stateDir: join(dir, 'state'),
    databases: names.map((name) => ({ name, path: join(dir, `${name}.db`) })),
    incidents: { rollbackWindow: 0, flap: { limit: 1_000_000, window: '1m' } },
  }),
  join(dir, 'guardian.yaml'),
);
for (const db of config.databases) {
  seedDatabase(db.path, 5000);
  await takeBackup(db, config.stateDir, 2);
}

const ledger = new Ledger(join(config.stateDir, 'direct-ledger.db'));
const activities = createActivities({ config, ledger, logger: createLogger('bench') });
const env = new MockActivityEnvironment();

/** The workflow's steps for a damaged file, in the same order, without Temporal. */
async function direct(run: number): Promise<number> {
  const database = 'direct';
  await corruptions['overwrite-page'](join(dir, 'direct.db'));
  const started = performance.now();
  const at = Date.now();
  ledger.openIncident(
    {
      workflowId: `direct-${run}`,
      runId: `r${run}`,
      mode: 'database-corruption',
      host,
      resource: database,
      evidence: 'bench',
      detectedAt: at,
      injectedAt: null,
    },
    { limit: 1_000_000, windowMs: 60_000 },
  );
  const quarantine = (await env.run(activities.quarantineDatabaseFiles, { database })) as { dir: string };
  const inspection = (await env.run(activities.inspectDatabase, { database })) as { verdict: string };
  if (inspection.verdict === 'ok') throw new Error('the injection did not damage the file');
  await env.run(activities.restoreLastGoodBackup, { database, quarantineDir: quarantine.dir });
  await env.run(activities.verifyDatabase, { database });
  ledger.recordHeal({
    workflowId: `direct-${run}`,
    runId: `r${run}`,
    mode: 'database-corruption',
    resource: database,
    at: Date.now(),
  });
  return performance.now() - started;
}

const runtime = await startGuardian({ config, detect: false, superviseService: false });
async function viaTemporal(run: number): Promise<number> {
  const database = 'temporal';
  await corruptions['overwrite-page'](join(dir, 'temporal.db'));
  const detectedAt = Date.now();
  const input: IncidentInput = {
    mode: 'database-corruption',
    resource: database,
    evidence: 'bench',
    detectedAt,
    host,
    settings: { rollbackWindowMs: 0, flapLimit: 1_000_000, flapWindowMs: 60_000 },
    params: { database, serviceConnected: false },
  };
  const handle = await runtime.client.workflow.start('databaseCorruption', {
    taskQueue: config.taskQueue,
    workflowId: `database-corruption:${host}:${database}:${run}`,
    args: [input],
  });
  const result = (await handle.result()) as IncidentResult;
  if (result.outcome !== 'healed' || result.healedAt === undefined) throw new Error(`run ${run}: ${result.summary}`);
  return result.healedAt - detectedAt;
}

try {
  const d: number[] = [];
  const t: number[] = [];
  await viaTemporal(-1); // warm the worker's workflow cache and connections
  for (let i = 0; i < runs; i++) {
    d.push(await direct(i));
    t.push(await viaTemporal(i));
  }
  const p50d = median(d) ?? 0;
  const p50t = median(t) ?? 0;
  console.log(machineLine());
  console.log(
    `runs: ${runs} each, interleaved; database: 5,000 rows (${'overwrite-page'} damage, restore from backup)`,
  );
  console.log(`direct (activities in-process): p50 ${p50d.toFixed(1)} ms, p95 ${percentile(d, 95)?.toFixed(1)} ms`);
  console.log(`through Temporal (workflow):    p50 ${p50t.toFixed(1)} ms, p95 ${percentile(t, 95)?.toFixed(1)} ms`);
  console.log(
    `added by orchestration: p50 ${(p50t - p50d).toFixed(1)} ms per incident; ratio ${(p50t / p50d).toFixed(2)}×`,
  );
} finally {
  await runtime.stop();
  ledger.close();
  rmSync(dir, { recursive: true, force: true });
}
