import type { GuardianConfig } from './config/load.js';
import { readScrubRecords, type ScrubRecord } from './scrub.js';
import { stateSize } from './state-size.js';

/** What `guardian status` says about the guarded databases' scrub and Guardian's own state. */
export interface StateReport {
  databases: { name: string; lastCleanAt: number | null; lastCheckAt: number | null; problems: string[] }[];
  state: { dir: string; bytes: number; parts: { name: string; bytes: number }[] };
}

/** Each database's last clean scrub and the size of the state directory. */
export async function stateReport(config: Pick<GuardianConfig, 'databases' | 'stateDir'>): Promise<StateReport> {
  const records: Record<string, ScrubRecord> = readScrubRecords(config.stateDir);
  const size = await stateSize(config.stateDir);
  return {
    databases: config.databases.map((db) => ({
      name: db.name,
      lastCleanAt: records[db.name]?.lastCleanAt ?? null,
      lastCheckAt: records[db.name]?.lastCheckAt ?? null,
      problems: records[db.name]?.problems ?? [],
    })),
    state: { dir: config.stateDir, bytes: size.total, parts: size.parts },
  };
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const ago = (at: number, now: number) => `${Math.max(0, Math.round((now - at) / 1000))} s ago`;

/** The report as lines for the terminal. */
export function renderStateReport(report: StateReport, now = Date.now()): string[] {
  const lines = report.databases.map((db) => {
    const clean = db.lastCleanAt === null ? 'never checked clean' : `last clean check ${ago(db.lastCleanAt, now)}`;
    const bad = db.problems.length > 0 ? `; last check found: ${db.problems[0]}` : '';
    return `database ${db.name}: ${clean}${bad}`;
  });
  const top = report.state.parts
    .slice(0, 4)
    .map((p) => `${p.name} ${mib(p.bytes)}`)
    .join(', ');
  lines.push(`state ${report.state.dir}: ${mib(report.state.bytes)}${top ? ` (${top})` : ''}`);
  return lines;
}
