import type Database from 'better-sqlite3';
import { type ProcessInfo, processInfo, sameProcess } from './proc.js';
import { openStateDatabase } from './state-db.js';

/** A process Guardian started, as the registry remembers it. */
export interface RegisteredProcess {
  readonly id: number;
  /** The supervised unit: the service's name or the model server's. */
  readonly name: string;
  readonly pid: number;
  readonly startTicks: number;
  readonly startedAt: number;
  readonly argv: readonly string[];
  readonly port: number | null;
  readonly state: 'running' | 'ended';
  readonly endedAt: number | null;
}

/** Where a service's port stands in the port registry. */
export interface PortAssignment {
  readonly service: string;
  readonly port: number;
  readonly previous: number | null;
  readonly assignedAt: number;
  readonly reason: string;
  readonly incident: string | null;
}

/** A boot chunk Guardian skips or defers on every boot until it is enabled again. */
export interface BootOverride {
  readonly service: string;
  readonly chunk: string;
  readonly kind: 'skip' | 'defer';
  readonly since: number;
  readonly incident: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS processes (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,
  started_at INTEGER NOT NULL, argv TEXT NOT NULL, port INTEGER, state TEXT NOT NULL DEFAULT 'running',
  ended_at INTEGER, exit_code INTEGER, exit_signal TEXT);
CREATE INDEX IF NOT EXISTS processes_by_pid ON processes (pid, start_ticks);
CREATE INDEX IF NOT EXISTS processes_by_name ON processes (name, id);
CREATE TABLE IF NOT EXISTS ports (
  service TEXT PRIMARY KEY, port INTEGER NOT NULL, previous INTEGER, assigned_at INTEGER NOT NULL,
  reason TEXT NOT NULL, incident TEXT);
CREATE TABLE IF NOT EXISTS degraded_features (
  service TEXT NOT NULL, feature TEXT NOT NULL, since INTEGER NOT NULL, incident TEXT,
  PRIMARY KEY (service, feature));
CREATE TABLE IF NOT EXISTS boot_overrides (
  service TEXT NOT NULL, chunk TEXT NOT NULL, kind TEXT NOT NULL, since INTEGER NOT NULL, incident TEXT,
  PRIMARY KEY (service, chunk));
`;

/** Ended processes kept per name; older rows are pruned so the table stays small. */
const ENDED_ROWS_KEPT = 200;

/**
 * Guardian's supervision registry (SQLite, beside the ledger): every process it started with
 * its PID, start time and command line; the port each service was given; the boot chunks it
 * skips. It survives a restart of Guardian, which is how a restarted Guardian re-adopts the
 * service instead of starting a second one, and how it proves a process is its own before
 * signalling it.
 */
export class ProcessRegistry {
  readonly db: Database.Database;

  constructor(readonly path: string) {
    this.db = openStateDatabase(path, SCHEMA);
  }

  /** Records a process Guardian just started. */
  recordStart(name: string, info: ProcessInfo, port: number | null = null): RegisteredProcess {
    const { lastInsertRowid } = this.db
      .prepare('INSERT INTO processes (name, pid, start_ticks, started_at, argv, port) VALUES (?, ?, ?, ?, ?, ?)')
      .run(name, info.pid, info.startTicks, info.startedAt, JSON.stringify(info.argv), port);
    return this.byId(Number(lastInsertRowid)) as RegisteredProcess;
  }

  /** Marks a process ended (idempotent) and prunes old rows of its name. */
  recordEnd(id: number, exit: { code?: number; signal?: string } = {}, at = Date.now()): void {
    this.db.transaction(() => {
      const row = this.db.prepare("SELECT name FROM processes WHERE id = ? AND state = 'running'").get(id) as
        { name: string } | undefined;
      if (!row) return;
      this.db
        .prepare("UPDATE processes SET state = 'ended', ended_at = ?, exit_code = ?, exit_signal = ? WHERE id = ?")
        .run(at, exit.code ?? null, exit.signal ?? null, id);
      this.db
        .prepare(
          `DELETE FROM processes WHERE name = ? AND state = 'ended' AND id NOT IN
             (SELECT id FROM processes WHERE name = ? AND state = 'ended' ORDER BY id DESC LIMIT ?)`,
        )
        .run(row.name, row.name, ENDED_ROWS_KEPT);
    })();
  }

  /** The newest process of `name` still marked running, if any. */
  latestRunning(name: string): RegisteredProcess | undefined {
    const row = this.db
      .prepare("SELECT * FROM processes WHERE name = ? AND state = 'running' ORDER BY id DESC LIMIT 1")
      .get(name) as Record<string, unknown> | undefined;
    return row && toProcess(row);
  }

  /** Every process of `name` still marked running, newest first. */
  running(name: string): RegisteredProcess[] {
    const rows = this.db
      .prepare("SELECT * FROM processes WHERE name = ? AND state = 'running' ORDER BY id DESC")
      .all(name) as Record<string, unknown>[];
    return rows.map(toProcess);
  }

  /** Marks ended every process of `name` still recorded as running that /proc shows is gone; returns the live ones, newest first. */
  sweep(name: string): RegisteredProcess[] {
    const live: RegisteredProcess[] = [];
    for (const entry of this.running(name)) {
      if (this.stillRunning(entry)) live.push(entry);
      else this.recordEnd(entry.id);
    }
    return live;
  }

  byId(id: number): RegisteredProcess | undefined {
    const row = this.db.prepare('SELECT * FROM processes WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row && toProcess(row);
  }

  /**
   * The registry entry that proves `info` is a process Guardian started: same PID, same start
   * time, same command line. A PID the kernel gave to someone else matches none.
   */
  provenOwn(info: ProcessInfo | undefined): RegisteredProcess | undefined {
    if (!info) return undefined;
    const rows = this.db
      .prepare('SELECT * FROM processes WHERE pid = ? AND start_ticks = ? ORDER BY id DESC')
      .all(info.pid, info.startTicks) as Record<string, unknown>[];
    return rows.map(toProcess).find((row) => sameProcess(info, row));
  }

  /** Re-reads /proc and returns the entry when the process still is the one recorded. */
  stillRunning(entry: RegisteredProcess): ProcessInfo | undefined {
    const info = processInfo(entry.pid);
    return sameProcess(info, entry) ? info : undefined;
  }

  /** The port the registry gives `service`, if one was assigned. */
  port(service: string): PortAssignment | undefined {
    const row = this.db.prepare('SELECT * FROM ports WHERE service = ?').get(service) as
      Record<string, unknown> | undefined;
    return row && toPort(row);
  }

  /** Assigns `port` to `service`; returns what was assigned before (undefined: none). */
  assignPort(
    service: string,
    port: number,
    reason: string,
    incident: string | null = null,
    at = Date.now(),
  ): PortAssignment | undefined {
    return this.db.transaction(() => {
      const before = this.port(service);
      this.db
        .prepare(
          `INSERT INTO ports (service, port, previous, assigned_at, reason, incident) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (service) DO UPDATE SET port = excluded.port, previous = excluded.previous,
             assigned_at = excluded.assigned_at, reason = excluded.reason, incident = excluded.incident`,
        )
        .run(service, port, before?.port ?? null, at, reason, incident);
      return before;
    })();
  }

  /** Forgets the assignment: the service goes back to its configured preference. */
  clearPort(service: string): void {
    this.db.prepare('DELETE FROM ports WHERE service = ?').run(service);
  }

  /** Remembers to skip or defer `chunk` on every boot of `service`. */
  setBootOverride(
    service: string,
    chunk: string,
    kind: 'skip' | 'defer',
    incident: string | null,
    at = Date.now(),
  ): void {
    this.db
      .prepare(
        `INSERT INTO boot_overrides (service, chunk, kind, since, incident) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (service, chunk) DO UPDATE SET kind = excluded.kind, since = excluded.since, incident = excluded.incident`,
      )
      .run(service, chunk, kind, at, incident);
  }

  /** Forgets the override; returns whether there was one. */
  clearBootOverride(service: string, chunk: string): boolean {
    return (
      this.db.prepare('DELETE FROM boot_overrides WHERE service = ? AND chunk = ?').run(service, chunk).changes > 0
    );
  }

  bootOverrides(service: string): BootOverride[] {
    return this.db
      .prepare('SELECT * FROM boot_overrides WHERE service = ? ORDER BY since')
      .all(service) as BootOverride[];
  }

  /** Remembers that Guardian (not the operator) switched a feature of `service` off. */
  markFeatureDegraded(service: string, feature: string, incident: string | null, at = Date.now()): void {
    this.db
      .prepare('INSERT OR IGNORE INTO degraded_features (service, feature, since, incident) VALUES (?, ?, ?, ?)')
      .run(service, feature, at, incident);
  }

  /** Forgets it; returns whether Guardian had switched it off. */
  clearFeatureDegraded(service: string, feature: string): boolean {
    return (
      this.db.prepare('DELETE FROM degraded_features WHERE service = ? AND feature = ?').run(service, feature).changes >
      0
    );
  }

  /** True when the feature is off because Guardian switched it off. */
  featureDegraded(service: string, feature: string): boolean {
    return (
      this.db.prepare('SELECT 1 FROM degraded_features WHERE service = ? AND feature = ?').get(service, feature) !==
      undefined
    );
  }

  close(): void {
    this.db.close();
  }
}

function toProcess(row: Record<string, unknown>): RegisteredProcess {
  return {
    id: Number(row.id),
    name: String(row.name),
    pid: Number(row.pid),
    startTicks: Number(row.start_ticks),
    startedAt: Number(row.started_at),
    argv: JSON.parse(String(row.argv)) as string[],
    port: row.port === null ? null : Number(row.port),
    state: row.state === 'running' ? 'running' : 'ended',
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
  };
}

function toPort(row: Record<string, unknown>): PortAssignment {
  return {
    service: String(row.service),
    port: Number(row.port),
    previous: row.previous === null ? null : Number(row.previous),
    assignedAt: Number(row.assigned_at),
    reason: String(row.reason),
    incident: row.incident === null ? null : String(row.incident),
  };
}
