// API tokens. A token is shown once when created; only its sha256 is stored.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './db.ts';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenRecord {
  readonly id: number;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

interface TokenRow {
  id: number;
  name: string;
  role: Role;
  created_at: string;
  revoked_at: string | null;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function toRecord(r: TokenRow): TokenRecord {
  return { id: r.id, name: r.name, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at };
}

export class TokenRepo {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  /** Creates a token; the returned `token` string is the only time it exists in clear. */
  create(name: string, role: Role): { token: string; record: TokenRecord } {
    const token = `nines_${randomBytes(32).toString('base64url')}`;
    const now = new Date().toISOString();
    const { lastId } = this.db.run(
      'INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)',
      name,
      role,
      hashToken(token),
      now,
    );
    return { token, record: { id: lastId, name, role, createdAt: now, revokedAt: null } };
  }

  /** The active token record for a presented token, or undefined. */
  verify(token: string): TokenRecord | undefined {
    const row = this.db.get<TokenRow>(
      'SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE hash = ? AND revoked_at IS NULL',
      hashToken(token),
    );
    return row ? toRecord(row) : undefined;
  }

  list(): TokenRecord[] {
    return this.db
      .all<TokenRow>('SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY id')
      .map(toRecord);
  }

  get(id: number): TokenRecord | undefined {
    const row = this.db.get<TokenRow>(
      'SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE id = ?',
      id,
    );
    return row ? toRecord(row) : undefined;
  }

  revoke(id: number): boolean {
    return (
      this.db.run(
        'UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
        new Date().toISOString(),
        id,
      ).changes > 0
    );
  }

  countActive(role?: Role): number {
    return role
      ? (this.db.get<{ n: number }>(
          'SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL AND role = ?',
          role,
        )?.n ?? 0)
      : (this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL')?.n ?? 0);
  }
}
