// Executor for the controller's own machine: child_process.spawn with argv (no shell). Each command is the
// leader of its own process group (detached), so a timeout or abort kills everything it started.
// With sudo (when nines does not run as root) the command goes through the same wrapper as over ssh
// (remote-command.ts): sudo-owned processes cannot be signalled by us, so the group is killed through sudo.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { readdir, readFile } from 'node:fs/promises';
import { constants as osConstants, userInfo } from 'node:os';
import { NinesError } from '../core/errors.ts';
import type { ExecOptions, ExecResult, PutFileOptions } from './executor.ts';
import { superviseCommand, toExecResult } from './exec-core.ts';
import type { CommandSink, RawExecOptions, RawExecResult, RawExecutor, RunningCommand } from './exec-core.ts';
import { getFileViaExec, putFileViaExec } from './file-transfer.ts';
import type { HostLogger } from './logger.ts';
import { feedStdin, routeStdout } from './stdio.ts';
import {
  DEFAULT_KILL_GRACE_MS,
  PgidMarkerFilter,
  exitStatus,
  killGroupCommand,
  withEnv,
  wrapCommand,
} from './remote-command.ts';

export interface LocalExecutorOptions {
  /** Name used in messages and logs. Default "localhost". */
  readonly host?: string;
  /** Grace between TERM and KILL when a command is stopped. Default 2 s. */
  readonly killGraceMs?: number;
  readonly logger?: HostLogger;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * True while the group has a member that is not a zombie. kill(-pgid, 0) is not enough: orphaned members
 * that died stay zombies until init reaps them, which some container inits do late.
 */
async function groupAlive(pgid: number): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return false;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '');
    // Fields after "(comm)": state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** TERM the group, wait up to the grace for it to disappear, then KILL. */
async function killLocalGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await groupAlive(pgid))) return;
    await sleep(50);
  }
  signalGroup(pgid, 'SIGKILL');
}

export class LocalExecutor implements RawExecutor {
  readonly host: string;
  readonly #graceMs: number;
  readonly #logger: HostLogger | undefined;
  readonly #isRoot = userInfo().uid === 0;

  constructor(options: LocalExecutorOptions = {}) {
    this.host = options.host ?? 'localhost';
    this.#graceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#logger = options.logger;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return toExecResult(await this.execRaw(argv, options));
  }

  async execRaw(argv: readonly string[], options: RawExecOptions = {}): Promise<RawExecResult> {
    if (argv.length === 0) throw new NinesError('NINES_E_INVALID_ARGUMENT', 'empty command');
    const sudo = options.sudo === true && !this.#isRoot;
    const spawnArgv = sudo
      ? ['/bin/sh', '-c', wrapCommand(argv, { env: options.env, sudo: true })]
      : withEnv(argv, options.env);
    return superviseCommand({
      host: this.host,
      argv,
      options,
      sudoUsed: sudo,
      logger: this.#logger,
      start: (sink) => Promise.resolve(this.#spawn(spawnArgv, sink, options, sudo)),
    });
  }

  async putFile(path: string, content: string | Buffer, options: PutFileOptions = {}): Promise<void> {
    return putFileViaExec(this, path, content, options);
  }

  async getFile(path: string, options: { readonly sudo?: boolean } = {}): Promise<Buffer> {
    return getFileViaExec(this, path, options);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #spawn(
    argv: readonly string[],
    sink: CommandSink,
    io: { readonly stdin?: string | Buffer | Readable; readonly stdoutTo?: Writable },
    sudo: boolean,
  ): RunningCommand {
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const filter = sudo ? new PgidMarkerFilter() : undefined;
    routeStdout(child.stdout, sink, io.stdoutTo);
    child.stderr.on('data', (chunk: Buffer) => {
      const rest = filter ? filter.push(chunk) : chunk;
      if (rest.length > 0) sink.stderr(rest);
    });
    // A command that does not read its stdin closes the pipe: EPIPE here is normal.
    child.stdin.on('error', () => undefined);
    feedStdin(child.stdin, io.stdin);
    const exited = new Promise<{ exitCode: number; wrapperStarted: boolean }>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        const code = err.code === 'ENOENT' ? 127 : err.code === 'EACCES' ? 126 : undefined;
        if (code === undefined) {
          reject(
            new NinesError('NINES_E_COMMAND_FAILED', `${this.host}: ${file}: ${err.message}`, { cause: err }),
          );
          return;
        }
        // Like a shell would say it, so the error context shows why.
        sink.stderr(Buffer.from(`${file}: ${code === 127 ? 'command not found' : 'permission denied'}\n`));
        resolve({ exitCode: code, wrapperStarted: true });
      });
      child.once('close', (code, signal) => {
        const rest = filter?.flush();
        if (rest && rest.length > 0) sink.stderr(rest);
        resolve({
          exitCode: exitStatus(code, signal, osConstants.signals),
          wrapperStarted: filter ? filter.pgid !== undefined : true,
        });
      });
    });
    const kill = async (): Promise<void> => {
      if (child.pid === undefined) return;
      if (sudo && filter?.pgid !== undefined) {
        const killer = spawn('/bin/sh', ['-c', killGroupCommand(filter.pgid, this.#graceMs, true)], {
          stdio: 'ignore',
        });
        await new Promise((resolve) => killer.once('close', resolve).once('error', resolve));
      }
      await killLocalGroup(child.pid, this.#graceMs);
    };
    return { exited, kill };
  }
}

export function createLocalExecutor(options: LocalExecutorOptions = {}): LocalExecutor {
  return new LocalExecutor(options);
}
