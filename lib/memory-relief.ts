import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { Ledger } from './ledger.js';

/** What an out-of-memory remediation can leave changed after its incident closed. */
export type ReliefKind = 'concurrency' | 'low-memory-mode' | 'feature' | 'models';

/** One change in force, and what was there before it (what a rollback or `guardian clear` puts back). */
export type MemoryRelief =
  | { readonly kind: 'concurrency'; readonly previous: number; readonly since: number }
  | { readonly kind: 'low-memory-mode'; readonly previous: boolean; readonly since: number }
  | { readonly kind: 'feature'; readonly name: string; readonly previous: boolean; readonly since: number }
  | { readonly kind: 'models'; readonly previous: readonly string[]; readonly since: number };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS memory_relief (
  kind TEXT NOT NULL, name TEXT NOT NULL, previous TEXT NOT NULL, since INTEGER NOT NULL, PRIMARY KEY (kind, name));
`;

interface ReliefRow {
  kind: ReliefKind;
  name: string;
  previous: string;
  since: number;
}

/**
 * The memory relief in force (a concurrency limit, low-memory mode, features switched off, models
 * unloaded), each with the value from before the first change: kept in Guardian's ledger file, so
 * `guardian clear out-of-memory` can put back what an incident changed after its rollback window
 * closed, or after a restart of Guardian. A second incident's change keeps the first one's
 * "before"; an undo that puts that value back ends the entry.
 */
export class MemoryReliefBook {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /** Notes a change and the value before it, unless one is noted already (its "before" is the original). */
  changed(kind: Exclude<ReliefKind, 'models'>, name: string, previous: number | boolean, now = Date.now()): void {
    this.db
      .prepare('INSERT OR IGNORE INTO memory_relief (kind, name, previous, since) VALUES (?, ?, ?, ?)')
      .run(kind, name, JSON.stringify(previous), now);
  }

  /** Ends the entry when `value` is the original it noted: the change is undone. */
  restored(kind: Exclude<ReliefKind, 'models'>, name: string, value: number | boolean): void {
    this.db
      .prepare('DELETE FROM memory_relief WHERE kind = ? AND name = ? AND previous = ?')
      .run(kind, name, JSON.stringify(value));
  }

  /** Adds models unloaded (to the ones noted already). */
  unloaded(models: readonly string[], now = Date.now()): void {
    if (models.length === 0) return;
    this.db.transaction(() => {
      const noted = this.models();
      const all = [...noted, ...models.filter((m) => !noted.includes(m))];
      this.db
        .prepare('INSERT OR REPLACE INTO memory_relief (kind, name, previous, since) VALUES (?, ?, ?, ?)')
        .run('models', '', JSON.stringify(all), this.row('models', '')?.since ?? now);
    })();
  }

  /** Forgets models loaded again; the entry ends with the last one. */
  reloaded(models: readonly string[]): void {
    this.db.transaction(() => {
      const left = this.models().filter((m) => !models.includes(m));
      if (left.length === 0) this.db.prepare("DELETE FROM memory_relief WHERE kind = 'models'").run();
      else this.db.prepare("UPDATE memory_relief SET previous = ? WHERE kind = 'models'").run(JSON.stringify(left));
    })();
  }

  /** Every change in force, oldest first. */
  list(): MemoryRelief[] {
    const rows = this.db.prepare('SELECT * FROM memory_relief ORDER BY since, kind, name').all() as ReliefRow[];
    return rows.map(toRelief);
  }

  private models(): string[] {
    const row = this.row('models', '');
    return row ? (JSON.parse(row.previous) as string[]) : [];
  }

  private row(kind: ReliefKind, name: string): ReliefRow | undefined {
    return this.db.prepare('SELECT * FROM memory_relief WHERE kind = ? AND name = ?').get(kind, name) as
      ReliefRow | undefined;
  }
}

/** The memory relief noted as in force in the ledger file `ledgerFile` (none when it does not exist). */
export function notedRelief(ledgerFile: string): MemoryRelief[] {
  if (!existsSync(ledgerFile)) return [];
  const ledger = new Ledger(ledgerFile);
  try {
    return new MemoryReliefBook(ledger.db).list();
  } finally {
    ledger.close();
  }
}

function toRelief(row: ReliefRow): MemoryRelief {
  const previous: unknown = JSON.parse(row.previous);
  switch (row.kind) {
    case 'concurrency':
      return { kind: row.kind, previous: previous as number, since: row.since };
    case 'low-memory-mode':
      return { kind: row.kind, previous: previous as boolean, since: row.since };
    case 'feature':
      return { kind: row.kind, name: row.name, previous: previous as boolean, since: row.since };
    case 'models':
      return { kind: row.kind, previous: previous as string[], since: row.since };
  }
}
