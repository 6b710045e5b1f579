// Numbered schema migrations: MIGRATIONS[n - 1] takes the database to version n. Never edit a shipped migration;
// append a new one.
import type { DatabaseSync } from 'node:sqlite';

export const MIGRATIONS: readonly ((db: DatabaseSync) => void)[] = [
  // 1: inventory, jobs, events, tokens, secrets
  (db) => {
    db.exec(`
      CREATE TABLE clusters (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        state TEXT NOT NULL,
        spec_json TEXT NOT NULL,            -- the spec with credentials replaced by "***" (they live in secrets)
        observed_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE nodes (
        cluster TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        role TEXT,
        datacenter TEXT NOT NULL,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'unknown',
        observed_json TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (cluster, host, port)
      );
      CREATE TABLE endpoints (
        cluster TEXT PRIMARY KEY REFERENCES clusters(name) ON DELETE CASCADE,
        proxies_json TEXT NOT NULL,
        write_port INTEGER NOT NULL,
        read_port INTEGER NOT NULL,
        virtual_ip TEXT
      );
      CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        cluster TEXT,
        writes INTEGER NOT NULL,
        params_json TEXT NOT NULL,
        secrets_enc TEXT,                   -- AES-256-GCM sealed JSON, see secret-box.ts
        state TEXT NOT NULL,
        progress INTEGER NOT NULL DEFAULT 0,
        current_step TEXT,
        error_json TEXT,
        requested_by TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
      );
      CREATE INDEX jobs_state ON jobs(state, id);
      CREATE INDEX jobs_cluster ON jobs(cluster, id);
      CREATE TABLE job_steps (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        result_json TEXT,
        error_json TEXT,
        PRIMARY KEY (job_id, seq)
      );
      CREATE TABLE job_logs (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        time TEXT NOT NULL,
        line TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
      );
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        cluster TEXT,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        data_json TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_cluster ON events(cluster, id);
      CREATE INDEX events_type ON events(type, id);
      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,          -- sha256 of the token; the token itself is never stored
        created_at TEXT NOT NULL,
        revoked_at TEXT
      );
      CREATE TABLE secrets (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        value_enc TEXT NOT NULL,            -- AES-256-GCM sealed, see secret-box.ts
        updated_at TEXT NOT NULL,
        PRIMARY KEY (scope, name)
      );
    `);
  },
];
