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
  // 2: monitoring (issue 5): metric series and tiers, alarms, maintenance windows, per-cluster monitor settings,
  // notification ledger and deliveries. Times are epoch milliseconds.
  (db) => {
    db.exec(`
      CREATE TABLE metric_series (
        id INTEGER PRIMARY KEY,
        cluster TEXT NOT NULL,
        node TEXT NOT NULL DEFAULT '',       -- host:port, '' for a cluster series
        metric TEXT NOT NULL,
        UNIQUE (cluster, node, metric)
      );
      CREATE TABLE metric_raw (series_id INTEGER NOT NULL, time INTEGER NOT NULL, value REAL NOT NULL,
        PRIMARY KEY (series_id, time)) WITHOUT ROWID;
      CREATE TABLE metric_1m (series_id INTEGER NOT NULL, start INTEGER NOT NULL, count INTEGER NOT NULL,
        sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (series_id, start)) WITHOUT ROWID;
      CREATE TABLE metric_1h (series_id INTEGER NOT NULL, start INTEGER NOT NULL, count INTEGER NOT NULL,
        sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (series_id, start)) WITHOUT ROWID;
      CREATE TABLE metric_rollup (tier TEXT PRIMARY KEY, watermark INTEGER NOT NULL);
      CREATE TABLE alarms (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        rule TEXT NOT NULL,
        cluster TEXT NOT NULL,
        node TEXT,
        severity TEXT NOT NULL,
        reason TEXT NOT NULL,
        raised_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        cleared_at INTEGER,
        clear_reason TEXT,
        acked_by TEXT,
        acked_at INTEGER,
        ack_comment TEXT
      );
      CREATE UNIQUE INDEX alarms_active ON alarms(key) WHERE cleared_at IS NULL;
      CREATE INDEX alarms_cluster ON alarms(cluster, id);
      CREATE TABLE maintenance_windows (
        cluster TEXT NOT NULL,
        node TEXT NOT NULL DEFAULT '',       -- host:port, '' for the whole cluster
        until INTEGER NOT NULL,
        reason TEXT,
        set_by TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (cluster, node)
      );
      CREATE TABLE monitor_settings (
        cluster TEXT PRIMARY KEY,
        thresholds_json TEXT NOT NULL DEFAULT '{}',
        disabled_rules_json TEXT NOT NULL DEFAULT '[]',
        updated_at INTEGER NOT NULL,
        updated_by TEXT
      );
      CREATE TABLE notify_ledger (key TEXT PRIMARY KEY, state TEXT NOT NULL, severity TEXT NOT NULL,
        at INTEGER NOT NULL);
      CREATE TABLE notification_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        transition_json TEXT NOT NULL,
        summary TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        next_attempt_at INTEGER,
        delivered_at INTEGER,
        response TEXT,
        last_error_code TEXT,
        last_error_message TEXT,
        last_error_at INTEGER
      );
      CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
    `);
  },
  // 3: SSH keys registered with the controller (issue 8): a spec names a key instead of a path on the controller.
  // The private key lives in secrets (scope "ssh-key:<name>", sealed); this row is what may be shown.
  (db) => {
    db.exec(`
      CREATE TABLE ssh_keys (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        fingerprint TEXT NOT NULL,           -- SHA256:... of the public key
        public_key TEXT NOT NULL,            -- authorized_keys format
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `);
  },
  // 4: failover and switchover (issue 9): the persisted state machine of each failover (a controller killed in
  // any phase resumes from it), per-cluster automatic recovery on/off, and the per-node recovery state (a fenced
  // former primary stays fenced until nines rejoins it; a diverged one until it is rebuilt).
  (db) => {
    db.exec(`
      CREATE TABLE failovers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        cluster TEXT NOT NULL,
        kind TEXT NOT NULL,                  -- failover | switchover
        trigger TEXT NOT NULL,               -- automatic | manual
        old_primary TEXT NOT NULL,           -- host:port
        candidate TEXT,                      -- host:port, once chosen
        phase TEXT NOT NULL,                 -- core/recovery/phases.ts
        forced INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL,
        data_json TEXT NOT NULL DEFAULT '{}',
        log_json TEXT NOT NULL DEFAULT '[]',
        error_json TEXT,
        requested_by TEXT,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER
      );
      CREATE INDEX failovers_cluster ON failovers (cluster, id);
      CREATE TABLE recovery_settings (
        cluster TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT
      );
      CREATE TABLE node_recovery (
        cluster TEXT NOT NULL,
        node TEXT NOT NULL,                  -- host:port
        state TEXT NOT NULL,                 -- fenced | diverged
        reason TEXT NOT NULL,
        failover_id INTEGER,
        since INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (cluster, node)
      );
    `);
  },
  // 5: self-healing (issue 10): nodes an operator locked (`nines node lock`: nines never starts, stops or repairs
  // them until unlocked).
  (db) => {
    db.exec(`
      CREATE TABLE node_locks (
        cluster TEXT NOT NULL,
        node TEXT NOT NULL,                  -- host:port
        reason TEXT,
        locked_by TEXT,
        locked_at INTEGER NOT NULL,
        PRIMARY KEY (cluster, node)
      );
    `);
  },
];
