// The controller's embedded SQLite database (node:sqlite): WAL mode, a busy timeout, foreign keys, and versioned
// migrations recorded in `schema_version`; the file and its -wal and -shm are mode 0600. One connection per controller process; node:sqlite is synchronous,
// so each statement is atomic with respect to the event loop.
import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { NinesError } from '../../core/errors.ts';
import { MIGRATIONS } from './migrations.ts';

export type Row = Record<string, SQLInputValue>;

export class Db {
  readonly path: string;
  readonly raw: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(path: string) {
    this.path = path;
    try {
      // SQLite gives -wal and -shm the mode of the database file: create it 0600 before SQLite does (0644).
      closeSync(openSync(path, 'a', 0o600));
      this.raw = new DatabaseSync(path);
      this.raw.exec('PRAGMA journal_mode = WAL');
      this.raw.exec('PRAGMA busy_timeout = 5000');
      this.raw.exec('PRAGMA foreign_keys = ON');
      this.raw.exec('PRAGMA synchronous = NORMAL');
      // Files left 0644 by an older nines (or copied in) are tightened too.
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        if (existsSync(file) && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      }
    } catch (err) {
      throw new NinesError('NINES_E_STORE', `cannot open ${path}`, { cause: err, context: { path } });
    }
  }

  /** A prepared statement, cached by its SQL text. */
  stmt(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.raw.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  run(sql: string, ...params: SQLInputValue[]): { changes: number; lastId: number } {
    const r = this.stmt(sql).run(...params);
    return { changes: Number(r.changes), lastId: Number(r.lastInsertRowid) };
  }

  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  /** Runs fn in a transaction (BEGIN IMMEDIATE), rolling back if it throws. Not re-entrant. */
  tx<T>(fn: () => T): T {
    this.raw.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.raw.exec('COMMIT');
      return out;
    } catch (err) {
      this.raw.exec('ROLLBACK');
      throw err;
    }
  }

  schemaVersion(): number {
    return this.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version')?.v ?? 0;
  }

  /** Applies the migrations not yet recorded, each in its own transaction. */
  migrate(): { from: number; to: number } {
    this.raw.exec(
      'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    const from = this.schemaVersion();
    if (from > MIGRATIONS.length) {
      throw new NinesError(
        'NINES_E_STORE',
        `the database ${this.path} has schema version ${from}, newer than this nines (${MIGRATIONS.length})`,
        {
          hint: 'Run the nines version that wrote this data directory, or a newer one.',
          context: { path: this.path },
        },
      );
    }
    for (let v = from + 1; v <= MIGRATIONS.length; v++) {
      const migration = MIGRATIONS[v - 1];
      if (!migration) continue;
      this.tx(() => {
        migration(this.raw);
        this.run(
          'INSERT INTO schema_version (version, applied_at) VALUES (?, ?)',
          v,
          new Date().toISOString(),
        );
      });
    }
    return { from, to: MIGRATIONS.length };
  }

  /** Row counts per table (diagnostics and tests). */
  counts(): Record<string, number> {
    const tables = this.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    return Object.fromEntries(
      tables.map((t) => [t.name, this.get<{ n: number }>(`SELECT COUNT(*) AS n FROM "${t.name}"`)?.n ?? 0]),
    );
  }

  close(): void {
    if (this.raw.isOpen) this.raw.close();
  }
}
