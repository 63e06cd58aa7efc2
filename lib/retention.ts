import { lstat, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RetentionSettings } from './config/retention.js';
import { directorySize } from './state-size.js';

/** What retention needs to know about the state directory and the incidents still open. */
export interface RetentionScope {
  stateDir: string;
  alertsFile: string;
  settings: RetentionSettings;
  /** Run IDs whose incident is open or inside its rollback window: never pruned. */
  protectedRuns: ReadonlySet<string>;
  /** Anything younger than this (ms) is kept, whatever the ledger says (a run not yet recorded). */
  minAgeMs: number;
  /** Disk-full: keep only what must be kept (the newest copy per database, protected runs). */
  urgent?: boolean;
  now?: number;
}

/** One thing retention removed. */
export interface Pruned {
  path: string;
  bytes: number;
  kind: string;
}

interface RunDir {
  path: string;
  runId: string;
  mtimeMs: number;
  bytes: number;
}

/** Directories whose children are one directory per workflow run, by the kind the report names. */
async function runGroups(stateDir: string): Promise<{ kind: string; dir: string; quarantine: boolean }[]> {
  const groups = [
    { kind: 'step-results', dir: join(stateDir, 'step-results'), quarantine: false },
    { kind: 'client-configs', dir: join(stateDir, 'client-configs'), quarantine: false },
    { kind: 'disk', dir: join(stateDir, 'disk'), quarantine: false },
  ];
  for (const name of await subdirectories(join(stateDir, 'config-originals')))
    groups.push({ kind: 'config-originals', dir: join(stateDir, 'config-originals', name), quarantine: false });
  for (const name of await subdirectories(join(stateDir, 'quarantine')))
    groups.push({ kind: 'quarantine', dir: join(stateDir, 'quarantine', name), quarantine: true });
  return groups;
}

/** Real subdirectories (never a symlink) of a directory, by name. */
async function subdirectories(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

async function runDirs(dir: string, sized: boolean): Promise<RunDir[]> {
  const found: RunDir[] = [];
  for (const runId of await subdirectories(dir)) {
    const path = join(dir, runId);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    found.push({ path, runId, mtimeMs: st.mtimeMs, bytes: sized ? await directorySize(path) : 0 });
  }
  return found.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

/**
 * Prunes the per-run directories (step results, config originals, client-config copies, disk
 * manifests) and the quarantined database copies beyond their count, age and (quarantine) total
 * size, oldest first. Never removes a protected run's directory, anything younger than
 * `minAgeMs`, or the newest quarantined copy of a database.
 */
export async function pruneRunDirectories(scope: RetentionScope): Promise<Pruned[]> {
  const now = scope.now ?? Date.now();
  const { runs, quarantine } = scope.settings;
  const pruned: Pruned[] = [];
  const candidates: (RunDir & { kind: string })[] = [];
  let quarantineBytes = 0;
  for (const group of await runGroups(scope.stateDir)) {
    const dirs = await runDirs(group.dir, true);
    const keep = scope.urgent ? 1 : group.quarantine ? quarantine.keep : runs.keep;
    const maxAge = group.quarantine ? quarantine.maxAge : runs.maxAge;
    dirs.forEach((d, i) => {
      const removable =
        !scope.protectedRuns.has(d.runId) &&
        now - d.mtimeMs > scope.minAgeMs &&
        !(group.quarantine && i === 0) &&
        (scope.urgent || i >= keep || now - d.mtimeMs > maxAge);
      if (group.quarantine) quarantineBytes += d.bytes;
      if (removable) candidates.push({ ...d, kind: group.kind });
      else if (group.quarantine && i > 0 && !scope.protectedRuns.has(d.runId) && now - d.mtimeMs > scope.minAgeMs)
        candidates.push({ ...d, kind: 'quarantine-over-size' });
    });
  }
  // Oldest first: what is past its count or age goes; extra quarantine copies go while over the size cap.
  candidates.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const c of candidates) {
    if (c.kind === 'quarantine-over-size') {
      if (quarantineBytes <= quarantine.maxBytes) continue;
      c.kind = 'quarantine';
    }
    await rm(c.path, { recursive: true, force: true });
    if (c.kind === 'quarantine') quarantineBytes -= c.bytes;
    pruned.push({ path: c.path, bytes: c.bytes, kind: c.kind });
  }
  return pruned;
}

/**
 * Rotates alerts.log past its size: alerts.log → alerts.log.1 → … , keeping `keep` rotated
 * files (none when urgent). Alerts are appended by opening the file each time, so the next
 * alert starts a new alerts.log.
 */
export async function rotateAlertsLog(scope: RetentionScope): Promise<Pruned[]> {
  const { maxBytes, keep } = scope.settings.alertsLog;
  const file = scope.alertsFile;
  const size = (await stat(file).catch(() => undefined))?.size ?? 0;
  const pruned: Pruned[] = [];
  const kept = scope.urgent ? 0 : keep;
  const named = (i: number) => (i === 0 ? file : `${file}.${i}`);
  if (size > maxBytes) {
    for (let i = kept; i >= 1; i--) await rename(named(i - 1), named(i)).catch(() => undefined);
    if (kept === 0) {
      await rm(file, { force: true });
      pruned.push({ path: file, bytes: size, kind: 'alerts-log' });
    }
  }
  for (let i = kept + 1; i <= kept + 20; i++) {
    const old = `${file}.${i}`;
    const st = await stat(old).catch(() => undefined);
    if (!st) continue;
    await rm(old, { force: true });
    pruned.push({ path: old, bytes: st.size, kind: 'alerts-log' });
  }
  return pruned;
}
