// Scale: one Guardian guarding many SQLite databases and endpoints (with a network probe) for a
// while — CPU as a share of one core and RSS — then many databases corrupted at once.
// Usage: node --import tsx bench/scale.ts [--databases 1000] [--seconds 60] [--corrupt 100]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { corruptions } from '../drills/database-corruption.js';
import { takeBackup } from '../lib/backups.js';
import { parseConfig } from '../lib/config/load.js';
import { median, percentile } from '../lib/stats.js';
import { startGuardian } from '../workers/guardian.js';
import { machineLine } from '../lib/machine.js';

const { values } = parseArgs({
  options: {
    databases: { type: 'string', default: '1000' },
    endpoints: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '60' },
    corrupt: { type: 'string', default: '100' },
  },
});
const count = Number(values.databases);
const endpointCount = Number(values.endpoints);
const seconds = Number(values.seconds);
const corrupt = Number(values.corrupt);
const dir = mkdtempSync(join(tmpdir(), 'guardian-scale-'));
const host = `scale-${process.pid}`;

console.log(machineLine());
mkdirSync(join(dir, 'db'));
const databases = Array.from({ length: count }, (_, i) => ({
  name: `db${i}`,
  path: join(dir, 'db', `db${i}.db`),
  backups: { every: '1h', keep: 1 },
}));
for (const db of databases) {
  const d = new Database(db.path);
  d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  d.prepare('INSERT INTO t (v) VALUES (?)').run('x'.repeat(5000));
  d.close();
}
// The endpoints' upstream: one small HTTP server on loopback answering every route.
const upstream = createServer((_req, res) => res.end('{"ok":true}'));
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamPort = (upstream.address() as AddressInfo).port;
const endpoints = Array.from({ length: endpointCount }, (_, i) => ({
  name: `e${i}`,
  url: `http://127.0.0.1:${upstreamPort}/e${i}`,
  probePath: '/health',
}));
const config = parseConfig(
  stringify({
    host,
    stateDir: join(dir, 'state'),
    databases,
    egress: { endpoints },
    network: { probes: { tcp: [`127.0.0.1:${upstreamPort}`], interval: '1s' } },
    incidents: { rollbackWindow: '1s', flap: { limit: 5, window: '10m' } },
  }),
  join(dir, 'guardian.yaml'),
);
// Every database starts with its verified backup, so the measured minute is steady-state guarding.
for (const db of config.databases) await takeBackup(db, config.stateDir, 1);

const runtime = await startGuardian({ config, superviseService: false });
try {
  await sleep(3000); // let start-up work (first ticks, backup scheduling) settle
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rssMax = 0;
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const share = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  console.log(
    `guarding ${count} databases and ${endpointCount} endpoints for ${seconds} s: CPU ${share.toFixed(2)}% of one core, RSS max ${(rssMax / 2 ** 20).toFixed(0)} MiB`,
  );

  const targets = config.databases.slice(0, corrupt);
  const injectedAt = Date.now();
  await Promise.all(targets.map((db) => corruptions['destroy-header'](db.path)));
  const healed = new Map<string, number>();
  const deadline = Date.now() + 120_000;
  while (healed.size < targets.length && Date.now() < deadline) {
    for (const r of runtime.ledger.incidents({ mode: 'database-corruption', limit: corrupt * 2 })) {
      if (r.detectedAt >= injectedAt && r.outcome === 'healed' && r.healedAt !== null)
        healed.set(r.resource, r.healedAt - injectedAt);
    }
    await sleep(100);
  }
  const totals = [...healed.values()];
  console.log(
    `${corrupt} databases corrupted at once: ${healed.size} healed; total MTTR p50 ${median(totals)} ms, p95 ${percentile(totals, 95)} ms, max ${Math.max(...totals)} ms`,
  );
} finally {
  await runtime.stop();
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
}
