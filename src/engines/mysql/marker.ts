// End-to-end proof that data flows: a marker row written on one node and read back on the others, over the
// same TCP path the application and the monitor use. The row lives in the `nines` schema (nines.marker).
import { randomBytes } from 'node:crypto';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import { USERS } from './config.ts';
import { connectSql, stringOf, type SqlClient, type SqlEndpoint } from './sql.ts';
import { done, notYet, waitUntil } from './wait.ts';
import { isNinesError } from '../../core/errors.ts';

export function adminEndpoint(spec: ClusterSpec, node: Pick<NodeSpec, 'host' | 'port'>): SqlEndpoint {
  return { host: node.host, port: node.port, user: USERS.admin, password: spec.credentials.admin };
}

export function monitorEndpoint(spec: ClusterSpec, node: Pick<NodeSpec, 'host' | 'port'>): SqlEndpoint {
  return { host: node.host, port: node.port, user: USERS.monitor, password: spec.credentials.monitor };
}

export function newMarkerToken(): string {
  return randomBytes(9).toString('base64url');
}

/** Creates nines.marker if needed and sets row `name` to `token`. */
export async function writeMarker(client: SqlClient, name: string, token: string): Promise<void> {
  await client.execute('CREATE DATABASE IF NOT EXISTS nines');
  await client.execute(
    'CREATE TABLE IF NOT EXISTS nines.marker (name VARCHAR(64) NOT NULL PRIMARY KEY, token VARCHAR(64) NOT NULL, written_at TIMESTAMP(6) NOT NULL) ENGINE=InnoDB',
  );
  await client.execute('REPLACE INTO nines.marker (name, token, written_at) VALUES (?, ?, NOW(6))', [
    name,
    token,
  ]);
}

async function readMarker(client: SqlClient, name: string): Promise<string | undefined> {
  try {
    const rows = await client.query('SELECT token FROM nines.marker WHERE name = ?', [name]);
    return rows[0] ? stringOf(rows[0].token) : undefined;
  } catch (err) {
    // 1146: the table has not replicated yet; 1049: nor the schema.
    if (isNinesError(err, 'NINES_E_DB_QUERY') && [1146, 1049].includes(Number(err.context.errno)))
      return undefined;
    throw err;
  }
}

/** Waits until the node's row `name` holds `token`. Returns the wait in ms. */
export async function waitForMarker(
  endpoint: SqlEndpoint,
  name: string,
  token: string,
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<number> {
  const started = Date.now();
  let client: SqlClient | undefined;
  try {
    await waitUntil(
      `the marker row written on the primary to appear on ${endpoint.host}:${endpoint.port}`,
      async () => {
        if (!client?.usable) client = await connectSql(endpoint);
        const seen = await readMarker(client, name);
        return seen === token ? done(true) : notYet(seen === undefined ? 'no row yet' : 'an older row');
      },
      {
        timeoutMs: options.timeoutMs,
        intervalMs: 100,
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
  } finally {
    await client?.close();
  }
  return Date.now() - started;
}
