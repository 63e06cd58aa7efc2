import type { DrillReport } from './runner.js';

const WIDTH = 900;
const ROW = 34;
const LEFT = 190;
const RIGHT = 30;
const TOP = 50;
const MIN_MS = 10;
const MAX_MS = 120_000;

const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** x position of a duration on the chart's log scale. */
function x(ms: number): number {
  const clamped = Math.min(MAX_MS, Math.max(MIN_MS, ms));
  const span = Math.log10(MAX_MS) - Math.log10(MIN_MS);
  return LEFT + ((Math.log10(clamped) - Math.log10(MIN_MS)) / span) * (WIDTH - LEFT - RIGHT);
}

/**
 * An SVG chart of a drill: one row per mode, a bar to the median total MTTR, a whisker to the
 * p95 and max, and the spec's target as a red mark; log-scale time axis from 10 ms to 2 min.
 */
export function drillChartSvg(report: DrillReport, title = 'Guardian drill: total MTTR per failure mode'): string {
  const height = TOP + report.modes.length * ROW + 60;
  const ticks = [10, 100, 1000, 10_000, 100_000];
  const label = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${LEFT}" y="24" font-size="16" font-weight="bold">${escape(title)}</text>`,
  ];
  for (const t of ticks) {
    parts.push(
      `<line x1="${x(t)}" y1="${TOP - 8}" x2="${x(t)}" y2="${height - 40}" stroke="#ddd"/>`,
      `<text x="${x(t)}" y="${height - 24}" text-anchor="middle" fill="#555">${label(t)}</text>`,
    );
  }
  report.modes.forEach((m, i) => {
    const y = TOP + i * ROW;
    const colour = m.pass ? '#2e7d32' : '#c62828';
    parts.push(`<text x="${LEFT - 10}" y="${y + 17}" text-anchor="end">${escape(m.mode)}</text>`);
    if (m.p50Ms !== null) {
      parts.push(
        `<rect x="${LEFT}" y="${y + 6}" width="${x(m.p50Ms) - LEFT}" height="16" fill="${colour}" opacity="0.8"/>`,
      );
      const hi = m.maxMs ?? m.p95Ms ?? m.p50Ms;
      parts.push(`<line x1="${x(m.p50Ms)}" y1="${y + 14}" x2="${x(hi)}" y2="${y + 14}" stroke="#333"/>`);
      if (m.p95Ms !== null)
        parts.push(`<line x1="${x(m.p95Ms)}" y1="${y + 8}" x2="${x(m.p95Ms)}" y2="${y + 20}" stroke="#333"/>`);
      parts.push(
        `<text x="${x(hi) + 6}" y="${y + 18}" fill="#333">${Math.round(m.p50Ms)} ms (p95 ${Math.round(m.p95Ms ?? m.p50Ms)})</text>`,
      );
    } else {
      parts.push(`<text x="${LEFT + 4}" y="${y + 18}" fill="#c62828">not healed</text>`);
    }
    parts.push(
      `<line x1="${x(m.targetMs)}" y1="${y + 2}" x2="${x(m.targetMs)}" y2="${y + 26}" stroke="#d32f2f" stroke-width="3"/>`,
    );
  });
  parts.push(
    `<text x="${LEFT}" y="${height - 6}" fill="#555">bar: median total MTTR (injection → healed); whisker: p95 and max; red mark: spec target</text>`,
    '</svg>',
  );
  return parts.join('\n');
}
