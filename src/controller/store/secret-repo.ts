// Named secrets (cluster credentials, later: backup keys, notification tokens), sealed with the SecretBox.
// Scope groups them, e.g. "cluster:prod" holds admin/replication/monitor.
import type { Db } from './db.ts';
import type { SecretBox } from './secret-box.ts';

export class SecretRepo {
  private readonly db: Db;
  private readonly box: SecretBox;

  constructor(db: Db, box: SecretBox) {
    this.db = db;
    this.box = box;
  }

  set(scope: string, name: string, value: string): void {
    this.db.run(
      `INSERT INTO secrets (scope, name, value_enc, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (scope, name) DO UPDATE SET value_enc = excluded.value_enc, updated_at = excluded.updated_at`,
      scope,
      name,
      this.box.seal(value, `secret:${scope}/${name}`),
      new Date().toISOString(),
    );
  }

  get(scope: string, name: string): string | undefined {
    const row = this.db.get<{ value_enc: string }>(
      'SELECT value_enc FROM secrets WHERE scope = ? AND name = ?',
      scope,
      name,
    );
    return row ? this.box.open(row.value_enc, `secret:${scope}/${name}`) : undefined;
  }

  /** All secrets of a scope, decrypted. */
  scope(scope: string): Record<string, string> {
    const rows = this.db.all<{ name: string; value_enc: string }>(
      'SELECT name, value_enc FROM secrets WHERE scope = ? ORDER BY name',
      scope,
    );
    return Object.fromEntries(
      rows.map((r) => [r.name, this.box.open(r.value_enc, `secret:${scope}/${r.name}`)]),
    );
  }

  deleteScope(scope: string): number {
    return this.db.run('DELETE FROM secrets WHERE scope = ?', scope).changes;
  }
}
