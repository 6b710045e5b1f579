// The SSH pool and executor at shutdown and on cancellation, with a fake ssh2 client (and, for the real connect,
// a local TCP server that accepts and never speaks): an aborted signal takes no channel slot and opens no
// channel; closeAll() stops connections still connecting and resolves only once every socket closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Client as SshClient } from 'ssh2';
import { NinesError, isNinesError } from '../../../src/core/errors.ts';
import { SshConnection, SshPool, type SshConnect, type SshTarget } from '../../../src/hosts/ssh-pool.ts';
import { SshExecutor } from '../../../src/hosts/ssh-executor.ts';
import { poll } from '../../support/poll.ts';
import { usableEd25519Key } from '../../support/test-key.ts';

class FakeClient extends EventEmitter {
  readonly execs: string[] = [];
  closed = false;
  destroyed = false;
  /** False: end() is ignored (a peer that never answers), only destroy() closes. */
  closeOnEnd = true;

  exec(command: string, cb: (err: Error | undefined) => void): void {
    this.execs.push(command);
    setImmediate(() => cb(new Error('the fake opens no channels')));
  }

  end(): void {
    if (this.closeOnEnd) this.#close();
  }

  destroy(): void {
    this.destroyed = true;
    this.#close();
  }

  #close(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.emit('close'));
  }
}

const asClient = (c: FakeClient): SshClient => c as unknown as SshClient;

/** A connect that takes `ms`, honours the pool's signal, and records every client it made. */
function fakeConnect(ms: number): { connect: SshConnect; clients: FakeClient[] } {
  const clients: FakeClient[] = [];
  const connect: SshConnect = (_target, signal) =>
    new Promise((resolve, reject) => {
      const c = new FakeClient();
      clients.push(c);
      const onAbort = (): void => {
        clearTimeout(timer);
        c.destroy();
        reject(new NinesError('NINES_E_COMMAND_ABORTED', 'connect stopped'));
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(asClient(c));
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  return { connect, clients };
}

const key = usableEd25519Key();

function target(port = 22): SshTarget {
  return {
    host: '127.0.0.1',
    port,
    user: 'root',
    privateKey: Buffer.from(key),
    knownHostsPath: join(tmpdir(), `nines-ssh-pool-test-${process.pid}-known_hosts`),
    connectTimeoutMs: 10_000,
    keepaliveIntervalMs: 15_000,
  };
}

const hooks = { onClose: () => undefined, onIdle: () => undefined };

test('acquire() with an already aborted signal rejects at once and takes no channel slot', async () => {
  const conn = new SshConnection('root@h1', asClient(new FakeClient()), 2, hooks);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(conn.acquire(ac.signal), (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
  assert.equal(conn.active, 0, 'no slot taken');
});

test('acquire() aborted while queued rejects and leaks no slot', async () => {
  const conn = new SshConnection('root@h1', asClient(new FakeClient()), 1, hooks);
  await conn.acquire(undefined);
  const ac = new AbortController();
  const queued = conn.acquire(ac.signal);
  ac.abort();
  await assert.rejects(queued, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
  conn.release();
  assert.equal(conn.active, 0, 'the aborted waiter was not handed the slot');
});

test('closeAll() stops a connection still connecting and resolves when nothing is left open', async () => {
  const { connect, clients } = fakeConnect(200);
  const pool = new SshPool({ connect });
  const pending = pool.connection(target());
  pending.catch(() => undefined);
  await poll('connect started', 1000, () => Promise.resolve(clients.length === 1 ? true : undefined), 5);
  await pool.closeAll();
  assert.equal(clients[0]?.closed, true, 'the connecting client was destroyed before closeAll() resolved');
  await assert.rejects(pending, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
  assert.equal(pool.stats().open, 0);
  // Usable again afterwards (a test's pool, a demo that goes on).
  const { connect: c2, clients: again } = fakeConnect(1);
  const pool2 = new SshPool({ connect: c2 });
  await pool2.connection(target());
  await pool2.closeAll();
  assert.equal(again[0]?.closed, true);
});

test('closeAll() waits for open connections to close, destroying one that does not answer', async () => {
  const { connect, clients } = fakeConnect(1);
  const pool = new SshPool({ connect });
  await pool.connection(target(22));
  await pool.connection(target(2222));
  assert.equal(clients.length, 2);
  const silent = clients[1];
  assert.ok(silent);
  silent.closeOnEnd = false;
  const started = Date.now();
  await pool.closeAll();
  assert.ok(
    clients.every((c) => c.closed),
    'every client closed when closeAll() resolved',
  );
  assert.equal(silent.destroyed, true, 'the silent one was destroyed after the grace');
  assert.ok(Date.now() - started < 5000);
  assert.equal(pool.stats().open, 0);
});

test('a command cancelled while its connection is connecting never opens a channel', async () => {
  const { connect, clients } = fakeConnect(150);
  const pool = new SshPool({ connect });
  const ex = new SshExecutor({
    host: '127.0.0.1',
    user: 'root',
    privateKey: key,
    knownHostsPath: '/nonexistent',
    pool,
  });
  const ac = new AbortController();
  const run = ex.exec(['touch', '/tmp/should-not-run'], { signal: ac.signal });
  await poll('connect started', 1000, () => Promise.resolve(clients.length === 1 ? true : undefined), 5);
  ac.abort();
  await assert.rejects(run, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
  // The connection itself completes in the pool (it is shared); the cancelled command must not use it.
  const conn = await pool.connection(target());
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(clients[0]?.execs, [], 'no channel was opened');
  assert.equal(conn.active, 0, 'no slot held');
  await pool.closeAll();
});

test('closeAll() destroys a real TCP connection stuck in the SSH handshake', async () => {
  const sockets: Socket[] = [];
  let serverSideClosed = 0;
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    s.on('close', () => (serverSideClosed += 1));
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const pool = new SshPool();
    const pending = pool.connection(target(port));
    pending.catch(() => undefined);
    await poll('TCP accepted', 2000, () => Promise.resolve(sockets.length === 1 ? true : undefined), 5);
    await pool.closeAll();
    await assert.rejects(pending, (e) => isNinesError(e, 'NINES_E_COMMAND_ABORTED'));
    // The server sees the close promptly (not after the 10 s handshake timeout).
    await poll(
      'server side closed',
      1000,
      () => Promise.resolve(serverSideClosed === 1 ? true : undefined),
      5,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test(
  'closeAll() destroys a real SSH connection whose peer never answers our end()',
  { timeout: 15_000 },
  async () => {
    // An in-process ssh2 server behind a relay that swallows our FIN: like a host frozen at shutdown.
    const sshd = new ssh2.Server({ hostKeys: [usableEd25519Key()] }, (client) => {
      client.on('error', () => undefined);
      client.on('authentication', (ctx) => ctx.accept());
    });
    await new Promise<void>((r) => sshd.listen(0, '127.0.0.1', r));
    const sshdPort = (sshd.address() as { port: number }).port;
    const relayed: Socket[] = [];
    const relay = createServer({ allowHalfOpen: true }, (down) => {
      const up = connect({ host: '127.0.0.1', port: sshdPort });
      relayed.push(down, up);
      for (const s of [down, up]) s.on('error', () => undefined);
      down.pipe(up, { end: false });
      up.pipe(down, { end: false });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const port = (relay.address() as { port: number }).port;
      const pool = new SshPool();
      await pool.connection(target(port));
      assert.equal(pool.stats().open, 1);
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        pool.closeAll().then(() => 'closed'),
        new Promise((r) => (timer = setTimeout(() => r('still waiting'), 5000))),
      ]);
      clearTimeout(timer);
      const took = Date.now() - started;
      assert.equal(outcome, 'closed', 'closeAll() resolved within 5 s');
      assert.ok(took >= 1500, `after the grace (${took} ms)`);
      await poll(
        'relay sees the socket closed',
        2000,
        () => Promise.resolve(relayed[0]?.destroyed || relayed[0]?.readableEnded ? true : undefined),
        5,
      );
    } finally {
      for (const s of relayed) s.destroy();
      await new Promise((r) => relay.close(r));
      await new Promise((r) => sshd.close(r));
    }
  },
);
