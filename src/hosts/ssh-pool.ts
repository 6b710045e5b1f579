// One SSH connection per (host, port, user), shared by every executor of this process and reused across commands.
// A connection carries at most `maxChannels` commands at once (sshd's MaxSessions defaults to 10); more wait
// in a queue. Kill commands skip the queue, so a full connection can always stop its own commands.
// A connection that drops (keepalive failure, sshd restart, network cut) leaves the pool at once; the next
// command opens a new one. A command whose channel could not be opened because the connection had just died
// is retried once on a fresh connection (it never started, so the retry is safe).
import { createHash } from 'node:crypto';
import { Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Client as SshClient, ClientChannel, ConnectConfig } from 'ssh2';
import { NinesError, isNinesError } from '../core/errors.ts';
import type { HostLogger } from './logger.ts';
import {
  hostKeyAlgorithmsFor,
  keyTypeOfBlob,
  knownHostName,
  readKnownHosts,
  verifyHostKey,
} from './known-hosts.ts';
import type { HostKeyVerdict } from './known-hosts.ts';
import { classifySshError } from './ssh-errors.ts';

export const DEFAULT_MAX_CHANNELS = 8;
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: Buffer;
  readonly knownHostsPath: string;
  readonly connectTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly logger?: HostLogger | undefined;
}

/** Opens and authenticates one client; aborting `signal` must destroy what it started and reject. */
export type SshConnect = (target: SshTarget, signal: AbortSignal) => Promise<SshClient>;

export interface SshPoolOptions {
  readonly maxChannelsPerConnection?: number;
  /** Close a connection that carried no command for this long (default 5 min; 0 = never). */
  readonly idleTimeoutMs?: number;
  /** How a connection is opened (default: ssh2 over TCP); tests give a fake. */
  readonly connect?: SshConnect;
}

/** How long closeAll() lets a connection end gracefully before destroying its socket. */
export const CLOSE_GRACE_MS = 2000;

export interface SshPoolStats {
  /** Connections opened since the pool was created (a test of reuse: stays 1 across many commands). */
  readonly connectionsOpened: number;
  readonly open: number;
}

function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function hostKeyError(target: SshTarget, verdict: HostKeyVerdict, blob: Buffer, cause: unknown): NinesError {
  const where = knownHostName(target.host, target.port);
  const what = verdict === 'revoked' ? 'is marked @revoked in' : 'differs from the key recorded in';
  return new NinesError(
    'NINES_E_SSH_HOSTKEY_CHANGED',
    `${where} presented a ${keyTypeOfBlob(blob)} key (${fingerprint(blob)}) that ${what} ${target.knownHostsPath}`,
    {
      cause,
      context: {
        host: target.host,
        port: target.port,
        knownHostsPath: target.knownHostsPath,
        fingerprint: fingerprint(blob),
      },
      hint: `If ${where} was rebuilt on purpose, remove its line from ${target.knownHostsPath} (ssh-keygen -R '${where}' -f ${target.knownHostsPath}) and retry; otherwise treat it as a possible attack.`,
    },
  );
}

/**
 * The TCP socket under each client connectClient made: ssh2's destroy() does nothing once the socket was ended
 * (its isWritable() check), so a connection whose peer never answers our end() is destroyed through this.
 */
const socketOf = new WeakMap<SshClient, Socket>();

function abortedError(what: string): NinesError {
  return new NinesError('NINES_E_COMMAND_ABORTED', what);
}

/** Opens and authenticates one ssh2 client; rejects with a classified NinesError. */
export async function connectClient(target: SshTarget, signal: AbortSignal): Promise<SshClient> {
  const known = await readKnownHosts(target.knownHostsPath);
  const where = `${target.user}@${knownHostName(target.host, target.port)}`;
  if (signal.aborted) throw abortedError(`${where}: connecting stopped (the pool is closing)`);
  const algorithms = hostKeyAlgorithmsFor(known, knownHostName(target.host, target.port));
  const client = new ssh2.Client();
  let rejected: { verdict: HostKeyVerdict; blob: Buffer } | undefined;
  const sock = new Socket();
  socketOf.set(client, sock);
  sock.setNoDelay(true);
  const config: ConnectConfig = {
    sock,
    username: target.user,
    privateKey: target.privateKey,
    readyTimeout: target.connectTimeoutMs,
    keepaliveInterval: target.keepaliveIntervalMs,
    keepaliveCountMax: 3,
    ...(algorithms ? { algorithms: { serverHostKey: algorithms as ssh2.ServerHostKeyAlgorithm[] } } : {}),
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      verifyHostKey(target.knownHostsPath, target.host, target.port, key).then(
        (verdict) => {
          if (verdict === 'changed' || verdict === 'revoked') rejected = { verdict, blob: key };
          verify(rejected === undefined);
        },
        () => verify(false),
      );
    },
  };
  return new Promise<SshClient>((resolve, reject) => {
    const onAbort = (): void => fail(abortedError(`${where}: connecting stopped (the pool is closing)`));
    const fail = (err: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      client.removeAllListeners('ready');
      client.on('error', () => undefined);
      client.destroy();
      sock.destroy();
      if (isNinesError(err, 'NINES_E_COMMAND_ABORTED')) return reject(err);
      if (rejected) return reject(hostKeyError(target, rejected.verdict, rejected.blob, err));
      const cls = classifySshError(err, { connectTimeoutMs: target.connectTimeoutMs });
      const detail = `${target.user}@${knownHostName(target.host, target.port)}: ${err instanceof Error ? err.message : String(err)}`;
      reject(
        new NinesError(cls.code, detail, {
          cause: err,
          context: { host: target.host, port: target.port, user: target.user },
          ...(cls.hint ? { hint: cls.hint } : {}),
        }),
      );
    };
    client.once('ready', () => {
      signal.removeEventListener('abort', onAbort);
      client.removeListener('error', fail);
      resolve(client);
    });
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('error', fail);
    client.once('close', () =>
      fail(Object.assign(new Error('connection closed during the handshake'), { code: 'ECONNRESET' })),
    );
    // Our own socket so the TCP connect is covered by readyTimeout like the handshake (ssh2 starts its timer
    // when handed a connecting socket).
    sock.connect({ host: target.host, port: target.port });
    client.connect(config);
  });
}

type Waiter = {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
};

/** One pooled connection. */
export class SshConnection {
  readonly key: string;
  readonly #client: SshClient;
  readonly #max: number;
  #active = 0;
  #closed = false;
  readonly #queue: Waiter[] = [];
  readonly #onIdle: (conn: SshConnection) => void;
  readonly #markClosed: () => void;
  /** Resolves when the client's socket closed. */
  readonly #gone: Promise<void>;

  constructor(
    key: string,
    client: SshClient,
    max: number,
    hooks: { onClose: () => void; onIdle: (c: SshConnection) => void },
  ) {
    this.key = key;
    this.#client = client;
    this.#max = max;
    this.#onIdle = hooks.onIdle;
    this.#markClosed = (): void => {
      if (this.#closed) return;
      this.#closed = true;
      hooks.onClose();
      for (const w of this.#queue.splice(0)) w.reject(lostError(this.key));
    };
    this.#gone = new Promise((resolve) => client.once('close', () => resolve()));
    client.on('close', this.#markClosed);
    client.on('end', this.#markClosed);
    // After 'ready', errors (keepalive timeout, socket reset) are followed by 'close'; nothing to do here.
    client.on('error', () => undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get active(): number {
    return this.#active;
  }

  /** Waits for a free channel slot (priority callers do not wait). */
  async acquire(signal: AbortSignal | undefined, priority = false): Promise<void> {
    if (signal?.aborted) throw abortedError(`${this.key}: stopped before a channel was taken`);
    if (this.#closed) throw lostError(this.key);
    if (priority || this.#active < this.#max) {
      this.#active += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(abortedError(`${this.key}: gave up waiting for a free channel`));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  release(): void {
    // Hand the slot to the next waiter unless priority callers pushed the count over the cap.
    const next = this.#active <= this.#max ? this.#queue.shift() : undefined;
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve();
      return;
    }
    this.#active -= 1;
    if (this.#active === 0) this.#onIdle(this);
  }

  /**
   * Opens an exec channel and hands it to `setup` synchronously inside ssh2's callback: for a fast command the
   * same TCP read can carry the channel confirmation, its output, exit status and close, so listeners attached
   * one microtask later would miss the 'exit' event. Rejects with `lostError` when the connection is (or just
   * went) down.
   */
  async openExec<T>(command: string, setup: (channel: ClientChannel) => T): Promise<T> {
    if (this.#closed) throw lostError(this.key);
    return new Promise<T>((resolve, reject) => {
      try {
        this.#client.exec(command, (err, channel) => {
          if (err) reject(this.#closed ? lostError(this.key, err) : channelError(this.key, err));
          else resolve(setup(channel));
        });
      } catch (err) {
        // ssh2 throws synchronously when its socket is no longer writable: the connection is gone.
        reject(lostError(this.key, err));
      }
    });
  }

  /** Ends the connection; it leaves the pool at once, commands still running on it fail. */
  end(): void {
    this.#markClosed();
    this.#client.end();
  }

  /** Ends the connection and resolves once its socket closed (destroyed after `graceMs` without an answer). */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    try {
      if ((await Promise.race([this.#gone, late])) === 'late') {
        this.#client.destroy();
        socketOf.get(this.#client)?.destroy();
        await this.#gone;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Marker class for "the connection died under us": the caller may retry on a fresh connection. */
export class ConnectionLostError extends NinesError {}

function lostError(key: string, cause?: unknown): ConnectionLostError {
  return new ConnectionLostError('NINES_E_HOST_UNREACHABLE', `${key}: the SSH connection was lost`, {
    cause,
    context: { connection: key },
  });
}

/**
 * The server refused a channel on a live connection. OpenSSH does so ("no more sessions") when a burst of
 * commands reopens channels faster than it garbage-collects closed ones: it frees a session only on the main
 * loop pass after the close. The command never started, so retrying after a short pause is safe.
 */
export class ChannelRefusedError extends NinesError {}

function channelError(key: string, cause: unknown): ChannelRefusedError {
  return new ChannelRefusedError(
    'NINES_E_HOST_UNREACHABLE',
    `${key}: the host refused to open a session channel`,
    {
      cause,
      context: { connection: key },
      hint: 'sshd refused a new session on an open connection: check MaxSessions in its sshd_config (nines uses up to 8 at once plus one to stop commands).',
    },
  );
}

export class SshPool {
  readonly #max: number;
  readonly #idleMs: number;
  readonly #open = new Map<string, SshConnection>();
  readonly #connecting = new Map<string, Promise<SshConnection>>();
  readonly #idleTimers = new Map<SshConnection, NodeJS.Timeout>();
  readonly #connectClient: SshConnect;
  /** Aborted by closeAll(): connections still connecting are destroyed. */
  #closing = new AbortController();
  #opened = 0;

  constructor(options: SshPoolOptions = {}) {
    this.#max = options.maxChannelsPerConnection ?? DEFAULT_MAX_CHANNELS;
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#connectClient = options.connect ?? connectClient;
  }

  stats(): SshPoolStats {
    return { connectionsOpened: this.#opened, open: this.#open.size };
  }

  static keyOf(target: Pick<SshTarget, 'host' | 'port' | 'user'>): string {
    return `${target.user}@${knownHostName(target.host, target.port)}`;
  }

  /** The open connection for the target, connecting once even when many callers ask at the same time. */
  async connection(target: SshTarget): Promise<SshConnection> {
    const key = SshPool.keyOf(target);
    const existing = this.#open.get(key);
    if (existing && !existing.closed) {
      this.#clearIdle(existing);
      return existing;
    }
    const pending = this.#connecting.get(key);
    if (pending) return pending;
    const promise = this.#connect(key, target).finally(() => this.#connecting.delete(key));
    this.#connecting.set(key, promise);
    return promise;
  }

  async #connect(key: string, target: SshTarget): Promise<SshConnection> {
    const started = Date.now();
    const closing = this.#closing.signal;
    const client = await this.#connectClient(target, closing);
    if (closing.aborted) {
      // Connected just as closeAll() began: it is not waiting for this one, so do not keep it.
      client.on('error', () => undefined);
      client.destroy();
      throw abortedError(`${key}: connected after the pool began closing`);
    }
    this.#opened += 1;
    const conn: SshConnection = new SshConnection(key, client, this.#max, {
      onClose: () => {
        target.logger?.debug({ connection: key }, 'ssh connection closed');
        this.#clearIdle(conn);
        if (this.#open.get(key) === conn) this.#open.delete(key);
      },
      onIdle: (c) => this.#armIdle(c),
    });
    this.#open.set(key, conn);
    target.logger?.debug({ connection: key, connectMs: Date.now() - started }, 'ssh connected');
    return conn;
  }

  #armIdle(conn: SshConnection): void {
    if (this.#idleMs <= 0) return;
    this.#clearIdle(conn);
    const timer = setTimeout(() => {
      if (conn.active === 0) conn.end();
    }, this.#idleMs);
    timer.unref();
    this.#idleTimers.set(conn, timer);
  }

  #clearIdle(conn: SshConnection): void {
    clearTimeout(this.#idleTimers.get(conn));
    this.#idleTimers.delete(conn);
  }

  /** Closes the connection of one target (the next command reconnects). */
  close(target: Pick<SshTarget, 'host' | 'port' | 'user'>): void {
    const conn = this.#open.get(SshPool.keyOf(target));
    conn?.end();
  }

  /**
   * Closes every connection, including those still connecting, and resolves once their sockets closed: call at
   * shutdown, as ssh2's keepalive timers keep the process alive. The pool can be used again afterwards.
   */
  async closeAll(): Promise<void> {
    const closing = this.#closing;
    this.#closing = new AbortController();
    closing.abort();
    await Promise.allSettled([...this.#connecting.values()]);
    for (const timer of this.#idleTimers.values()) clearTimeout(timer);
    this.#idleTimers.clear();
    await Promise.all([...this.#open.values()].map((conn) => conn.close()));
  }
}

/** The pool executors use unless given another one. */
export const defaultSshPool = new SshPool();
