import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTable } from '../../lib/table.js';
import { drillChartSvg } from '../../drills/chart.js';
import { drillConfig } from '../../drills/config.js';
import { parseDatabaseSize } from '../../drills/database-size.js';
import { drills } from '../../drills/index.js';
import { sizedDatabaseCorruptionDrill } from '../../drills/sized-database.js';
import { attachDrills } from '../../drills/attached.js';
import { type DrillReport, runDrills, summarize } from '../../drills/runner.js';
import type { DrillOptions, ModeDrill } from '../../drills/types.js';
import { loadConfig } from '../../lib/config/load.js';
import { UsageError } from '../../lib/errors.js';
import { createLogger, logFormat } from '../../lib/logger.js';
import { machineLine } from '../../lib/machine.js';
import { isMode, MODES } from '../../lib/modes.js';
import { runningGuardianPid } from '../../lib/pid-lock.js';

/** Options of {@link drill}, as the CLI parses them. */
export interface DrillCommandOptions {
  config: string;
  json?: boolean;
  repeat: string;
  report?: string;
  logFormat?: string;
  dbSize?: string;
  /** Start a Guardian of the drill's own even when one runs on the config's state directory. */
  isolated?: boolean;
}

/**
 * `guardian drill [mode…|all]`: injects each mode's scenario for real and measures MTTR. When a
 * Guardian runs on the config's state directory (`npm start`), the drill acts on it and its demo;
 * with `--isolated`, or when none runs, it starts one of its own (host `<host>-drill`).
 */
export async function drill(modes: string[], options: DrillCommandOptions): Promise<number> {
  const repeat = Number(options.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000)
    throw new UsageError(`--repeat must be a whole number from 1 to 1000, got "${options.repeat}"`);
  const selected = withDatabaseSize(selectDrills(modes), options.dbSize);
  // Ctrl-C: stop after cleaning up the fault in place, the demo service and Guardian.
  const interrupted = new AbortController();
  const onInterrupt = () => {
    process.stderr.write('Interrupted: undoing the current fault and stopping…\n');
    interrupted.abort(new Error('drill interrupted'));
  };
  process.once('SIGINT', onInterrupt);
  let report;
  try {
    report = await drillTargets(options, selected, {
      repeat,
      onProgress: (line) => process.stderr.write(`${line}\n`),
      signal: interrupted.signal,
      logger: createLogger('guardian-drill', logFormat(options.logFormat)),
    });
  } catch (err) {
    if (interrupted.signal.aborted) return 130;
    throw err;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
  if (options.report) await writeReport(options.report, report);
  if (options.json) {
    const { runs: _runs, ...summary } = report;
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else process.stdout.write(`${renderTable(report)}\n`);
  return report.pass ? 0 : 1;
}

/**
 * Runs the drills on the running Guardian when one is up (and `--isolated` is not given); the
 * modes that need a Guardian of their own then run in an isolated one, as all do otherwise.
 */
async function drillTargets(
  options: DrillCommandOptions,
  selected: ModeDrill[],
  drillOptions: DrillOptions,
): Promise<DrillReport> {
  const running = loadConfig(options.config);
  const pid = options.isolated ? undefined : runningGuardianPid(running.stateDir);
  // More heals than flap protection allows would pause the running demo's resource: isolate them.
  const fits = drillOptions.repeat <= running.incidents.flap.limit;
  const refused = new Map<ModeDrill, string>();
  if (pid !== undefined && fits)
    for (const d of selected) {
      const reason = d.attachable ? d.attachRefusal?.(running) : undefined;
      if (reason) refused.set(d, reason);
    }
  const onRunning = pid === undefined || !fits ? [] : selected.filter((d) => d.attachable && !refused.has(d));
  const isolated = selected.filter((d) => !onRunning.includes(d));
  const attached = onRunning.length > 0 ? await attachDrills(running, onRunning, drillOptions) : undefined;
  if (isolated.length === 0 && attached) return attached;
  const config = await drillConfig(options.config);
  const why =
    pid === undefined
      ? options.isolated
        ? 'isolated (--isolated)'
        : `no Guardian runs on ${running.stateDir}`
      : fits
        ? 'a Guardian of its own is needed (the drill changes its config before it starts)'
        : `--repeat ${drillOptions.repeat} is past the running Guardian's flap limit (${running.incidents.flap.limit})`;
  const rest = isolated.filter((d) => !refused.has(d));
  for (const [d, reason] of refused) drillOptions.onProgress?.(`${d.mode}: ${reason}`);
  if (rest.length > 0) drillOptions.onProgress?.(`${rest.map((d) => d.mode).join(', ')}: ${why}`);
  drillOptions.onProgress?.(`starting an isolated Guardian: host ${config.host}, state ${config.stateDir}`);
  const own = await runDrills(config, isolated, drillOptions);
  return attached ? summarize(selected, [...attached.runs, ...own.runs]) : own;
}

/** Resolves mode arguments (`all`, or mode ids) to drills; unknown or undrillable modes are usage errors. */
export function selectDrills(modes: readonly string[]): ModeDrill[] {
  const wanted = modes.length === 0 || modes.includes('all') ? Object.keys(drills) : modes;
  return wanted.map((mode) => {
    if (!isMode(mode)) throw new UsageError(`unknown mode "${mode}"; modes are: ${MODES.join(', ')}, or all`);
    return drills[mode];
  });
}

/** With `--db-size`, the database-corruption drill runs on a world_model grown to that size. */
function withDatabaseSize(selected: ModeDrill[], dbSize: string | undefined): ModeDrill[] {
  if (dbSize === undefined) return selected;
  let bytes: number;
  try {
    bytes = parseDatabaseSize(dbSize);
  } catch (err) {
    throw new UsageError(`--db-size: ${(err as Error).message}`);
  }
  if (!selected.some((d) => d.mode === 'database-corruption'))
    throw new UsageError(
      '--db-size applies to the database-corruption drill; name it: guardian drill database-corruption',
    );
  return selected.map((d) => (d.mode === 'database-corruption' ? sizedDatabaseCorruptionDrill(bytes) : d));
}

const ms = (v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);

/** The human table: one row per mode, then the average against the spec's 20 s. */
export function renderTable(report: DrillReport): string {
  const table = createTable(['mode', 'target', 'runs', 'healed', 'detect p50', 'p50', 'p95', 'max', 'verdict']);
  for (const m of report.modes) {
    table.push([
      m.mode,
      `< ${m.targetMs / 1000} s`,
      m.runs,
      m.healed,
      ms(m.detectP50Ms),
      ms(m.p50Ms),
      ms(m.p95Ms),
      ms(m.maxMs),
      m.pass ? 'PASS' : 'FAIL',
    ]);
  }
  return [
    table.toString(),
    `average total MTTR p50: ${ms(report.averageP50Ms)} (spec: < 20 s) — ${report.pass ? 'PASS' : 'FAIL'}`,
    machineLine(),
  ].join('\n');
}

async function writeReport(dir: string, report: DrillReport): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'drill.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(dir, 'drill.svg'), drillChartSvg(report));
  const rows = report.modes.map(
    (m) =>
      `| ${m.mode} | < ${m.targetMs / 1000} s | ${m.runs} | ${m.healed} | ${ms(m.detectP50Ms)} | ${ms(m.p50Ms)} | ${ms(m.p95Ms)} | ${ms(m.maxMs)} | ${m.pass ? 'PASS' : 'FAIL'} |`,
  );
  await writeFile(
    join(dir, 'drill.md'),
    [
      '| mode | target | runs | healed | detect p50 | p50 | p95 | max | verdict |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `Average total MTTR p50: ${ms(report.averageP50Ms)} (spec: < 20 s). ${machineLine()}.`,
      '',
      '![MTTR per mode against its target](drill.svg)',
      '',
    ].join('\n'),
  );
}
