// The MariaDB connector's fatalError() removes every listener from the socket it was given (ours included):
// keepErrorListener keeps a no-op 'error' listener through that, so an error the socket emits afterwards (EPIPE
// from a write to a host that just died) cannot become an uncaught exception that ends the controller.
// Real connector, a local TCP server that accepts and hangs up at once (the connection fails mid-handshake).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import mariadb from 'mariadb';
import { isNinesError } from '../../../src/core/errors.ts';
import { connectSql, keepErrorListener } from '../../../src/engines/mysql/sql.ts';

async function hangUpServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

const epipe = (): Error => Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' });

test("the connector's fatalError() strips a plain socket of every error listener", async () => {
  const { server, port } = await hangUpServer();
  try {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    await assert.rejects(mariadb.createConnection({ stream: () => socket, user: 'u', connectTimeout: 2000 }));
    assert.equal(socket.listenerCount('error'), 0, 'our listener is gone: a later error would be uncaught');
  } finally {
    server.close();
  }
});

test('keepErrorListener: an error the socket emits after fatalError() is handled', async () => {
  const { server, port } = await hangUpServer();
  try {
    const socket = keepErrorListener(connect({ host: '127.0.0.1', port }));
    await assert.rejects(mariadb.createConnection({ stream: () => socket, user: 'u', connectTimeout: 2000 }));
    assert.equal(socket.listenerCount('error'), 1);
    // emit() throws an 'error' that has no listener; with ours it returns.
    assert.doesNotThrow(() => socket.emit('error', epipe()));
    socket.removeAllListeners('error');
    assert.equal(socket.listenerCount('error'), 1, 'removing only error listeners keeps ours too');
    socket.removeAllListeners('data');
    assert.equal(socket.listenerCount('error'), 1);
  } finally {
    server.close();
  }
});

test('connectSql to a server that hangs up mid-handshake: NINES_E_DB_UNREACHABLE, nothing uncaught', async () => {
  const { server, port } = await hangUpServer();
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err);
  };
  process.on('uncaughtException', onUncaught);
  try {
    await assert.rejects(
      connectSql({ host: '127.0.0.1', port, user: 'u', password: 'p' }, { connectTimeoutMs: 2000 }),
      (e) => isNinesError(e, 'NINES_E_DB_UNREACHABLE'),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    server.close();
  }
});
