// Bearer-token authentication and role checks. Tokens are compared by their sha256 (the store never holds a
// token in clear). Roles are ordered: admin > operator > viewer.
import type { FastifyRequest } from 'fastify';
import { NinesError } from '../core/errors.ts';
import type { Role, TokenRecord, TokenRepo } from '../controller/store/token-repo.ts';

const RANK: Readonly<Record<Role, number>> = { viewer: 1, operator: 2, admin: 3 };

export function hasRole(actual: Role, required: Role): boolean {
  return RANK[actual] >= RANK[required];
}

export function authenticate(
  req: FastifyRequest,
  tokens: TokenRepo,
  required: Role | 'public',
): TokenRecord | undefined {
  if (required === 'public') return undefined;
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match?.[1]) {
    throw new NinesError(
      'NINES_E_AUTH_REQUIRED',
      `${req.method} ${req.routeOptions.url ?? req.url} needs a token`,
    );
  }
  const record = tokens.verify(match[1]);
  if (!record) throw new NinesError('NINES_E_AUTH_INVALID');
  if (!hasRole(record.role, required)) {
    throw new NinesError(
      'NINES_E_AUTH_FORBIDDEN',
      `${req.method} ${req.routeOptions.url ?? req.url} needs role ${required}, the token '${record.name}' has ${record.role}`,
      { context: { required, actual: record.role } },
    );
  }
  return record;
}
