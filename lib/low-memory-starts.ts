import type Database from 'better-sqlite3';

/** The environment variable that starts the service in its low-memory mode (docs/contract.md). */
export const LOW_MEMORY_ENV = 'GUARDIAN_LOW_MEMORY';

/** A service that starts in low-memory mode until a rollback or `guardian clear service-down` ends it. */
export interface LowMemoryStart {
  readonly service: string;
  /** When a restart after an OOM kill turned it on (epoch ms). */
  readonly since: number;
  /** The incident (workflow ID) whose restart turned it on. */
  readonly incident: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS low_memory_starts (
  service TEXT PRIMARY KEY, since INTEGER NOT NULL, incident TEXT);
`;

/**
 * The services every start of which gets `GUARDIAN_LOW_MEMORY=true`, kept in supervision.db beside
 * the port registry and the boot overrides, so a restart of Guardian keeps starting the service in
 * low-memory mode, `guardian status` lists it, and a rollback or `guardian clear` ends it.
 */
export class LowMemoryStarts {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /** Starts of `service` go in low-memory mode from now on; a second mark keeps the first one's time. */
  mark(service: string, incident: string | null, at = Date.now()): void {
    this.db
      .prepare('INSERT OR IGNORE INTO low_memory_starts (service, since, incident) VALUES (?, ?, ?)')
      .run(service, at, incident);
  }

  /** Starts of `service` go in normal mode again; returns whether they were in low-memory mode. */
  clear(service: string): boolean {
    return this.db.prepare('DELETE FROM low_memory_starts WHERE service = ?').run(service).changes > 0;
  }

  /** The mark of `service`, if its starts go in low-memory mode. */
  of(service: string): LowMemoryStart | undefined {
    return this.db.prepare('SELECT * FROM low_memory_starts WHERE service = ?').get(service) as
      LowMemoryStart | undefined;
  }

  /** The environment a start of `service` adds: `GUARDIAN_LOW_MEMORY=true` while it is marked. */
  env(service: string): Record<string, string> {
    return this.of(service) ? { [LOW_MEMORY_ENV]: 'true' } : {};
  }
}
