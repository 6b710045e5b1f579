// SSH keys registered with the controller. The row holds what may be shown (name, type, fingerprint, public
// key); the private key is a sealed secret (scope "ssh-key:<name>") and leaves this repo only for the SSH
// executors.
import type { Db } from './db.ts';
import type { SecretRepo } from './secret-repo.ts';

export interface SshKeyRecord {
  readonly name: string;
  readonly type: string;
  readonly fingerprint: string;
  readonly publicKey: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface KeyRow {
  name: string;
  type: string;
  fingerprint: string;
  public_key: string;
  created_at: string;
  updated_at: string;
}

const COLUMNS = 'name, type, fingerprint, public_key, created_at, updated_at';
const PRIVATE = 'private';

export function keyScope(name: string): string {
  return `ssh-key:${name}`;
}

function toRecord(r: KeyRow): SshKeyRecord {
  return {
    name: r.name,
    type: r.type,
    fingerprint: r.fingerprint,
    publicKey: r.public_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class KeyRepo {
  private readonly db: Db;
  private readonly secrets: SecretRepo;

  constructor(db: Db, secrets: SecretRepo) {
    this.db = db;
    this.secrets = secrets;
  }

  /** Inserts or replaces a key (row and sealed private key in one transaction); keeps createdAt on replace. */
  put(
    key: { name: string; type: string; fingerprint: string; publicKey: string },
    privateKey: string,
  ): SshKeyRecord {
    const now = new Date().toISOString();
    this.db.tx(() => {
      this.db.run(
        `INSERT INTO ssh_keys (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET type = excluded.type, fingerprint = excluded.fingerprint,
           public_key = excluded.public_key, updated_at = excluded.updated_at`,
        key.name,
        key.type,
        key.fingerprint,
        key.publicKey,
        now,
        now,
      );
      this.secrets.set(keyScope(key.name), PRIVATE, privateKey);
    });
    return this.get(key.name) as SshKeyRecord;
  }

  get(name: string): SshKeyRecord | undefined {
    const row = this.db.get<KeyRow>(`SELECT ${COLUMNS} FROM ssh_keys WHERE name = ?`, name);
    return row ? toRecord(row) : undefined;
  }

  has(name: string): boolean {
    return this.db.get('SELECT 1 AS one FROM ssh_keys WHERE name = ?', name) !== undefined;
  }

  list(): SshKeyRecord[] {
    return this.db.all<KeyRow>(`SELECT ${COLUMNS} FROM ssh_keys ORDER BY name`).map(toRecord);
  }

  /** The decrypted private key, for an SSH executor only. */
  privateKey(name: string): string | undefined {
    return this.has(name) ? this.secrets.get(keyScope(name), PRIVATE) : undefined;
  }

  remove(name: string): boolean {
    return this.db.tx(() => {
      this.secrets.deleteScope(keyScope(name));
      return this.db.run('DELETE FROM ssh_keys WHERE name = ?', name).changes > 0;
    });
  }
}
