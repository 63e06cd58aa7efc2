// `npm run chaos`: the fault matrix. Drives real incidents on the demo through the dev server
// (or the one TEMPORAL_ADDRESS names), with a Guardian per mode in a process the fault hook can
// SIGKILL, and checks the invariants after every case. See README "Trust under failure".
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { connectClient } from '../../lib/temporal.js';
import { MODES, type Mode } from '../../workflows/definitions.js';
import type { ChaosFault, ChaosRow } from './case.js';
import { ALL_FAULTS, runMatrix } from './matrix.js';
import { findingsMarkdown, perModeMarkdown, renderRow, renderTable } from './report.js';

const program = new Command('chaos')
  .description(
    'Fault matrix: every step of every mode × crash-before, crash-after, step-fails, rollback-during; Cancel and alert-down per mode',
  )
  .option('--json', 'print the report as JSON on stdout (the table goes to stderr)')
  .option('--mode <modes>', 'comma-separated modes (default: all)')
  .option('--fault <faults>', `comma-separated faults (default: all): ${ALL_FAULTS.join(', ')}`)
  .option('--quick', 'each fault kind once per mode, at rotating steps')
  .option('--lanes <n>', 'modes run side by side', '2')
  .option('--report <file>', 'write the failing cases as Markdown to this file')
  .option('--markdown <file>', 'write a step × fault table per mode as Markdown to this file')
  .option('--config <file>', 'guardian.yaml to derive each mode’s config from', 'guardian.yaml')
  .parse();

const opts = program.opts<{
  json?: boolean;
  mode?: string;
  fault?: string;
  quick?: boolean;
  report?: string;
  config: string;
  lanes: string;
  markdown?: string;
}>();
const list = (v: string | undefined) =>
  v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
const modes = (list(opts.mode) ?? [...MODES]) as Mode[];
const faults = (list(opts.fault) ?? [...ALL_FAULTS]) as ChaosFault[];
for (const m of modes)
  if (!(MODES as readonly string[]).includes(m)) program.error(`unknown mode "${m}"; modes are: ${MODES.join(', ')}`);
for (const f of faults)
  if (!ALL_FAULTS.includes(f)) program.error(`unknown fault "${f}"; faults are: ${ALL_FAULTS.join(', ')}`);

const client = await connectClient();
const root = mkdtempSync(join(tmpdir(), 'guardian-chaos-'));
const log = (line: string) => process.stderr.write(`${line}\n`);
const rows: ChaosRow[] = [];
const began = Date.now();
const report = await runMatrix(client, {
  modes,
  faults,
  quick: opts.quick === true,
  lanes: Number(opts.lanes),
  configFile: opts.config,
  root,
  onProgress: log,
  onRow: (row) => {
    log(renderRow(row));
    rows.push(row);
    // Written as rows arrive, so a long run's findings can be read before it ends.
    if (opts.report)
      writeFileSync(
        opts.report,
        findingsMarkdown(
          {
            cases: rows.length,
            passed: rows.filter((r) => r.pass).length,
            failed: rows.filter((r) => !r.pass).length,
            ms: Date.now() - began,
            rows,
          },
          process.argv.slice(2),
        ),
      );
  },
});
await client.connection.close();
const table = renderTable(report);
if (opts.report) writeFileSync(opts.report, findingsMarkdown(report, process.argv.slice(2)));
if (opts.markdown) writeFileSync(opts.markdown, perModeMarkdown(report));
if (opts.json) {
  log(table);
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else process.stdout.write(`${table}\n`);
process.exit(report.failed === 0 ? 0 : 1);
