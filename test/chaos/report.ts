import { createTable } from '../../lib/table.js';
import type { ChaosRow, Invariants } from './case.js';
import type { MatrixReport } from './matrix.js';

const mark = (v: boolean | null) => (v === null ? '–' : v ? 'ok' : 'FAIL');

/** One progress line per finished case. */
export function renderRow(row: ChaosRow): string {
  const failed = (Object.entries(row.invariants) as [keyof Invariants, boolean | null][])
    .filter(([, v]) => v === false)
    .map(([k]) => k);
  return `  ${row.pass ? 'PASS' : 'FAIL'} ${row.mode} ${row.fault} @ ${row.step}: ${row.outcome} (${Math.round(row.ms / 1000)} s)${
    row.pass ? '' : ` [${failed.join(', ')}] ${row.detail}`
  }`;
}

/** The readable table: one row per case, then the totals. */
export function renderTable(report: MatrixReport): string {
  const table = createTable([
    'mode',
    'step',
    'fault',
    'outcome',
    'final',
    'data',
    'files',
    'service',
    'foreign',
    'verdict',
  ]);
  for (const r of report.rows) {
    const i = r.invariants;
    table.push([
      r.mode,
      r.step,
      r.fault,
      r.outcome,
      mark(i.final),
      mark(i.noDataLost),
      mark(i.noFileLost),
      mark(i.serviceUp),
      mark(i.noForeignKill),
      r.pass ? 'PASS' : 'FAIL',
    ]);
  }
  return `${table.toString()}\n${report.cases} cases, ${report.passed} passed, ${report.failed} failed in ${Math.round(report.ms / 1000)} s`;
}

/** The failing cases as a Markdown list, with the cause each check gave. */
export function findingsMarkdown(report: MatrixReport, args: readonly string[]): string {
  const failing = report.rows.filter((r) => !r.pass);
  const lines = [
    `# Fault matrix findings`,
    '',
    `\`npm run chaos -- ${args.join(' ')}\`: ${report.cases} cases, ${report.passed} passed, ${report.failed} failed in ${Math.round(report.ms / 1000)} s.`,
    '',
    ...failing.map(
      (r) =>
        `- **${r.mode}** ${r.fault} @ \`${r.step}\` → ${r.outcome}; failed: ${
          (Object.entries(r.invariants) as [string, boolean | null][])
            .filter(([, v]) => v === false)
            .map(([k]) => k)
            .join(', ') || '(case)'
        } — ${r.detail}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** Per mode, a table of step × fault → outcome (✓ when every invariant held), for docs/failure-modes.md. */
export function perModeMarkdown(report: MatrixReport): string {
  const out: string[] = [];
  for (const mode of [...new Set(report.rows.map((r) => r.mode))]) {
    const rows = report.rows.filter((r) => r.mode === mode);
    const faults = [...new Set(rows.map((r) => r.fault))];
    const steps = [...new Set(rows.map((r) => r.step))];
    out.push(
      `#### ${mode}`,
      '',
      `| step | ${faults.join(' | ')} |`,
      `| --- | ${faults.map(() => '---').join(' | ')} |`,
    );
    for (const step of steps) {
      const cells = faults.map((f) => {
        const r = rows.find((x) => x.step === step && x.fault === f);
        return r ? `${r.outcome} ${r.pass ? '✓' : '✗'}` : '';
      });
      out.push(`| ${step} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
