// database-corruption on large databases, with the demo service running: total MTTR per size
// (median, p95), and during each heal the p99 latency of calls through the egress proxy (steady
// load from another process), the lateness of Guardian's event loop, and the detection latency
// of a second database damaged mid-heal.
// Usage: node --import tsx bench/large-database.ts [--sizes 1GB,3GB] [--repeat 5] [--rate 20]
// The databases are built once and cached (GUARDIAN_DB_CACHE, default <tmp>/guardian-db-cache).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { corruptions } from '../drills/database-corruption.js';
import { drillConfig } from '../drills/config.js';
import { parseDatabaseSize } from '../drills/database-size.js';
import { runDrills } from '../drills/runner.js';
import { sizedDatabaseCorruptionDrill } from '../drills/sized-database.js';
import { type DrillEnvironment, type ModeDrill, ownGuardian } from '../drills/types.js';
import { listBackups } from '../lib/backups.js';
import { parseConfig } from '../lib/config/load.js';
import { machineLine } from '../lib/machine.js';
import { median, percentile } from '../lib/stats.js';
import { type CallSample, startCallLoad, startUpstream, watchEventLoop } from './load.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1GB,3GB' },
    repeat: { type: 'string', default: '5' },
    rate: { type: 'string', default: '20' },
  },
});
const repeat = Number(values.repeat);
const rate = Number(values.rate);
const f = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(0));

/** Damages the `audit` database once the world_model heal is under way; resolves with how late it was detected. */
async function detectorLagDuringHeal(env: DrillEnvironment, since: number): Promise<number | undefined> {
  const ledger = env.runtime.ledger;
  const audit = env.runtime.config.databases.find((d) => d.name === 'audit');
  if (!audit) return undefined;
  for (let i = 0; i < 600; i++) {
    const primary = ledger
      .incidents({ mode: 'database-corruption', limit: 5 })
      .find((r) => r.resource === 'world_model' && r.detectedAt >= since);
    if (primary) break;
    await sleep(20);
  }
  await sleep(500); // inside the heal: copy-aside of the large file is running now
  const injectedAt = Date.now();
  await corruptions['destroy-header'](audit.path);
  for (let i = 0; i < 1500; i++) {
    const found = ledger
      .incidents({ mode: 'database-corruption', limit: 10 })
      .find((r) => r.resource === 'audit' && r.detectedAt >= injectedAt - 5);
    if (found) return found.detectedAt - injectedAt;
    await sleep(10);
  }
  return undefined;
}

console.log(machineLine());
const upstream = await startUpstream();
try {
  for (const sizeText of values.sizes.split(',')) {
    const bytes = parseDatabaseSize(sizeText);
    const stateDir = mkdtempSync(join(tmpdir(), 'guardian-large-bench-'));
    try {
      const base = await drillConfig('guardian.yaml', { stateDir, hostSuffix: `large-${process.pid}` });
      const egress = parseConfig(
        stringify({ egress: { endpoints: [{ name: 'bench', url: upstream.url }] } }),
        join(stateDir, 'egress.yaml'),
      ).egress;
      const config = { ...base, egress, credentials: [] };
      const sized = sizedDatabaseCorruptionDrill(bytes);
      const lags: Promise<number | undefined>[] = [];
      let load: ReturnType<typeof startCallLoad> | undefined;
      let loop: ReturnType<typeof watchEventLoop> | undefined;
      const drill: ModeDrill = {
        ...sized,
        async prepare(env) {
          const t0 = Date.now();
          // The keeper takes one at start (a file this size has none yet); wait for it.
          while (listBackups(env.runtime.config.stateDir, 'world_model').length === 0) {
            await ownGuardian(env).backups.backupAll();
            await sleep(200);
          }
          process.stderr.write(`${sizeText}: verified backup taken in ${Date.now() - t0} ms\n`);
          const egress = env.runtime.egress;
          load = startCallLoad(`${egress?.url ?? ''}/bench/ping`, rate, egress?.authHeaders ?? {});
          loop = watchEventLoop();
          await sleep(2000);
        },
        async inject(env, run) {
          // Each run measures its own heal: the setup's and the previous run's writes are on disk first.
          execFileSync('sync');
          const injection = await sized.inject(env, run);
          lags.push(detectorLagDuringHeal(env, injection.injectedAt));
          return injection;
        },
      };
      const report = await runDrills(config, [drill], {
        repeat,
        runTimeoutMs: 180_000,
        onProgress: (line) => process.stderr.write(`${sizeText}: ${line}\n`),
      });
      load?.stop();
      loop?.stop();
      const windows = report.runs
        .filter((r) => r.healedAt !== undefined)
        .map((r) => [r.injectedAt, r.healedAt ?? 0] as const);
      const inHeal = (at: number) => windows.some(([from, to]) => at >= from && at <= to);
      const calls: CallSample[] = (load?.samples ?? []).filter((s) => inHeal(s.at));
      const latencies = calls.map((s) => s.ms);
      const failed = calls.filter((s) => s.status !== 200).length;
      const loopLags = (loop?.samples ?? []).filter((s) => inHeal(s.at)).map((s) => s.lagMs);
      const detect = (await Promise.all(lags)).filter((v): v is number => v !== undefined);
      const m = report.modes[0];
      console.log(
        `database-corruption ${sizeText}: runs ${m?.runs} healed ${m?.healed}; total MTTR p50 ${f(m?.p50Ms ?? undefined)} ms, ` +
          `p95 ${f(m?.p95Ms ?? undefined)} ms, max ${f(m?.maxMs ?? undefined)} ms (detect p50 ${f(m?.detectP50Ms ?? undefined)} ms)`,
      );
      for (const variant of [...new Set(report.runs.map((r) => r.variant))]) {
        const runs = report.runs.filter((r) => r.variant === variant && r.totalMs !== undefined);
        const totals = runs.map((r) => r.totalMs ?? 0);
        const heals = runs.map((r) => (r.totalMs ?? 0) - (r.detectMs ?? 0));
        console.log(
          `  ${variant}: ${runs.length} healed, total p50 ${f(median(totals))} ms, max ${f(Math.max(...totals))} ms; ` +
            `detected after p50 ${f(median(runs.map((r) => r.detectMs ?? 0)))} ms; detection → healed p50 ${f(median(heals))} ms, max ${f(Math.max(...heals))} ms`,
        );
      }
      console.log(
        `  during heals: ${calls.length} proxy calls at ${rate}/s, p50 ${f(median(latencies))} ms, p99 ${f(percentile(latencies, 99))} ms, ` +
          `max ${f(latencies.length ? Math.max(...latencies) : undefined)} ms, ${failed} failed; ` +
          `event loop lag p99 ${f(percentile(loopLags, 99))} ms, max ${f(loopLags.length ? Math.max(...loopLags) : undefined)} ms; ` +
          `second database damaged mid-heal detected after p50 ${f(median(detect))} ms, max ${f(detect.length ? Math.max(...detect) : undefined)} ms (${detect.length} runs)`,
      );
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
} finally {
  upstream.stop();
}
