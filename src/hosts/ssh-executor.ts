// Executor over SSH (ssh2): key authentication, host keys pinned in a known_hosts file (trust on first use),
// pooled connections (ssh-pool.ts) and commands that really die on timeout or abort (remote-command.ts).
import { constants as osConstants } from 'node:os';
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import type { Readable, Writable } from 'node:stream';
import { NinesError } from '../core/errors.ts';
import type { ExecOptions, ExecResult, PutFileOptions } from './executor.ts';
import { superviseCommand, toExecResult } from './exec-core.ts';
import type { CommandSink, RawExecOptions, RawExecResult, RawExecutor, RunningCommand } from './exec-core.ts';
import { getFileViaExec, putFileViaExec } from './file-transfer.ts';
import type { HostLogger } from './logger.ts';
import {
  DEFAULT_KILL_GRACE_MS,
  PgidMarkerFilter,
  exitStatus,
  killGroupCommand,
  wrapCommand,
} from './remote-command.ts';
import { feedStdin, routeStdout } from './stdio.ts';
import { ChannelRefusedError, ConnectionLostError, defaultSshPool } from './ssh-pool.ts';
import type { SshConnection, SshPool, SshTarget } from './ssh-pool.ts';

export interface SshExecutorOptions {
  readonly host: string;
  readonly port?: number;
  readonly user: string;
  /** The private key itself (PEM or OpenSSH format, unencrypted) ... */
  readonly privateKey?: string | Buffer;
  /** ... or the file holding it. */
  readonly privateKeyPath?: string;
  /** OpenSSH-format known_hosts file; unknown hosts are recorded on first connection. */
  readonly knownHostsPath: string;
  /** Bound on TCP connect + SSH handshake + authentication. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Keepalive probe interval; the connection is dropped after 3 unanswered probes. Default 15 s. */
  readonly keepaliveIntervalMs?: number;
  /** Grace between TERM and KILL when a command is stopped. Default 2 s. */
  readonly killGraceMs?: number;
  readonly logger?: HostLogger;
  /** Connection pool; default: one shared by the whole process. */
  readonly pool?: SshPool;
}

interface ChannelIo {
  readonly stdin: string | Buffer | Readable | undefined;
  readonly stdoutTo: Writable | undefined;
  readonly sudo: boolean;
}

const PGID_WAIT_MS = 2000;
const CLOSE_WAIT_MS = 3000;
/** Retries of a refused channel (5, 10, 20, ... ms apart): see ChannelRefusedError. */
const CHANNEL_RETRIES = 8;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function cancelledError(host: string): NinesError {
  return new NinesError('NINES_E_COMMAND_ABORTED', `${host}: stopped before the command started`);
}

/** `promise`, or a rejection as soon as `signal` aborts (the work itself goes on, its result is dropped). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, host: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(cancelledError(host));
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(cancelledError(host));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  aborted.catch(() => undefined);
  return Promise.race([promise, aborted]).finally(() => {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  });
}

async function loadKey(options: SshExecutorOptions): Promise<Buffer> {
  let key: Buffer;
  if (options.privateKey !== undefined) {
    key = Buffer.from(options.privateKey);
  } else if (options.privateKeyPath !== undefined) {
    try {
      key = await readFile(options.privateKeyPath);
    } catch (err) {
      throw new NinesError(
        'NINES_E_SSH_KEY_FILE',
        `${options.privateKeyPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        {
          cause: err,
          context: { path: options.privateKeyPath },
        },
      );
    }
  } else {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', 'an SSH executor needs privateKey or privateKeyPath');
  }
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) {
    throw new NinesError(
      'NINES_E_SSH_KEY_FILE',
      `${options.privateKeyPath ?? 'privateKey'}: not a usable private key`,
      {
        cause: parsed,
        context: { path: options.privateKeyPath },
        hint: 'Give an unencrypted private key in OpenSSH or PEM format (ssh-keygen -t ed25519 -N "").',
      },
    );
  }
  return key;
}

/** Resolves when the stream ended (or immediately if it already has). */
function ended(stream: NodeJS.ReadableStream & { readableEnded?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) resolve();
    else stream.once('end', () => resolve()).once('close', () => resolve());
  });
}

export class SshExecutor implements RawExecutor {
  readonly host: string;
  readonly #options: SshExecutorOptions;
  readonly #pool: SshPool;
  readonly #user: string;
  #target: Promise<SshTarget> | undefined;

  constructor(options: SshExecutorOptions) {
    this.host = options.host;
    this.#options = options;
    this.#pool = options.pool ?? defaultSshPool;
    this.#user = options.user;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return toExecResult(await this.execRaw(argv, options));
  }

  async execRaw(argv: readonly string[], options: RawExecOptions = {}): Promise<RawExecResult> {
    const sudo = options.sudo === true && this.#user !== 'root';
    const command = wrapCommand(argv, { env: options.env, sudo });
    return superviseCommand({
      host: this.host,
      argv,
      options,
      sudoUsed: sudo,
      logger: this.#options.logger,
      start: (sink, cancel) =>
        this.#start(command, { sink, cancel, stdin: options.stdin, stdoutTo: options.stdoutTo, sudo }),
    });
  }

  async putFile(path: string, content: string | Buffer, options: PutFileOptions = {}): Promise<void> {
    return putFileViaExec(this, path, content, options);
  }

  async getFile(path: string, options: { readonly sudo?: boolean } = {}): Promise<Buffer> {
    return getFileViaExec(this, path, options);
  }

  async close(): Promise<void> {
    this.#pool.close(this.#targetKeyFields());
    return Promise.resolve();
  }

  #targetKeyFields(): { host: string; port: number; user: string } {
    return { host: this.host, port: this.#options.port ?? 22, user: this.#user };
  }

  async #resolveTarget(): Promise<SshTarget> {
    // Read the key once; a failure is not cached so a fixed key file works on the next command.
    this.#target ??= loadKey(this.#options).then(
      (privateKey) => ({
        ...this.#targetKeyFields(),
        privateKey,
        knownHostsPath: this.#options.knownHostsPath,
        connectTimeoutMs: this.#options.connectTimeoutMs ?? 10_000,
        keepaliveIntervalMs: this.#options.keepaliveIntervalMs ?? 15_000,
        logger: this.#options.logger,
      }),
      (err: unknown) => {
        this.#target = undefined;
        throw err;
      },
    );
    return this.#target;
  }

  async #start(
    command: string,
    run: { sink: CommandSink; cancel: AbortSignal } & ChannelIo,
  ): Promise<RunningCommand> {
    const target = await untilAborted(this.#resolveTarget(), run.cancel, this.host);
    return this.#open(target, command, { cancel: run.cancel }, (conn, channel) =>
      this.#running(conn, channel, run, target),
    );
  }

  /**
   * Opens a channel on the pooled connection; on success the channel slot belongs to `setup`'s result (it
   * must release it). Reconnects once when the connection turns out dead, and retries refused channels.
   */
  async #open<T>(
    target: SshTarget,
    command: string,
    how: { cancel?: AbortSignal; priority?: boolean },
    setup: (conn: SshConnection, channel: ClientChannel) => T,
  ): Promise<T> {
    let reconnected = false;
    for (let refused = 0; ;) {
      // A cancelled command never starts: not while its connection is being opened (the pool keeps that
      // connect and closes it at closeAll), not while it waits for a channel, not after.
      const conn = await untilAborted(this.#pool.connection(target), how.cancel, this.host);
      await conn.acquire(how.cancel, how.priority);
      if (how.cancel?.aborted) {
        conn.release();
        throw cancelledError(this.host);
      }
      try {
        return await conn.openExec(command, (channel) => setup(conn, channel));
      } catch (err) {
        conn.release();
        if (how.cancel?.aborted) throw err;
        if (err instanceof ConnectionLostError && !reconnected) {
          reconnected = true;
          continue;
        }
        if (err instanceof ChannelRefusedError && refused < CHANNEL_RETRIES) {
          await sleep(5 * 2 ** refused);
          refused += 1;
          continue;
        }
        throw err;
      }
    }
  }

  #running(
    conn: SshConnection,
    channel: ClientChannel,
    run: { sink: CommandSink } & ChannelIo,
    target: SshTarget,
  ): RunningCommand {
    let onPgid: (pgid: number) => void = () => undefined;
    const pgidKnown = new Promise<number>((resolve) => (onPgid = resolve));
    const filter = new PgidMarkerFilter((pgid) => onPgid(pgid));
    let exitCode: number | undefined;
    routeStdout(channel, run.sink, run.stdoutTo);
    channel.stderr.on('data', (chunk: Buffer) => {
      const rest = filter.push(chunk);
      if (rest.length > 0) run.sink.stderr(rest);
    });
    channel.on('exit', (code: number | null, signal?: string) => {
      exitCode = exitStatus(code, signal, osConstants.signals);
    });
    const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
    const exited = Promise.all([closed, ended(channel), ended(channel.stderr)]).then(() => {
      conn.release();
      const rest = filter.flush();
      if (rest.length > 0) run.sink.stderr(rest);
      if (exitCode === undefined) {
        throw new NinesError(
          'NINES_E_HOST_UNREACHABLE',
          `${this.host}: the SSH connection was lost while a command ran (it may still be running there)`,
          {
            context: { host: this.host },
          },
        );
      }
      return { exitCode, wrapperStarted: filter.pgid !== undefined };
    });
    feedStdin(channel, run.stdin);
    const kill = async (): Promise<void> => {
      const pgid = filter.pgid ?? (await withTimeout(pgidKnown, PGID_WAIT_MS));
      if (typeof pgid === 'number') await this.#killGroup(pgid, run.sudo, target);
      else
        this.#options.logger?.warn({ host: this.host }, 'command to kill never reported its process group');
      if ((await withTimeout(closed, CLOSE_WAIT_MS)) === 'timeout') channel.close();
    };
    return { exited, kill };
  }

  /** Kills a remote process group over the pooled connection (a fresh one if the old one died). */
  async #killGroup(pgid: number, sudo: boolean, target: SshTarget): Promise<void> {
    const grace = this.#options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    try {
      const { conn, channel, done } = await this.#open(
        target,
        killGroupCommand(pgid, grace, sudo),
        { priority: true },
        (c, ch) => {
          const closed = new Promise<void>((resolve) => ch.once('close', () => resolve()));
          ch.resume();
          ch.stderr.resume();
          ch.end();
          return { conn: c, channel: ch, done: closed };
        },
      );
      try {
        if ((await withTimeout(done, grace + 5000)) === 'timeout') channel.close();
      } finally {
        conn.release();
      }
    } catch (err) {
      this.#options.logger?.warn({ host: this.host, pgid, err }, 'could not kill a remote command');
    }
  }
}

export function createSshExecutor(options: SshExecutorOptions): SshExecutor {
  return new SshExecutor(options);
}
