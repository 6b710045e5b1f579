// The part of exec that is the same for every transport (ssh channel, local child process): timeout and abort,
// output collection and line streaming, logging, and turning the outcome into a result or a NinesError.
// A transport only has to start the command, deliver its output, report its exit and kill its process group.
import { NinesError } from '../core/errors.ts';
import { DEFAULT_EXEC_TIMEOUT_MS } from './executor.ts';
import type { ExecOptions, ExecResult, Executor } from './executor.ts';
import type { HostLogger } from './logger.ts';
import { DEFAULT_OUTPUT_CAP_BYTES, StreamCollector, tail } from './output.ts';
import { redact } from './quote.ts';

export interface CommandSink {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

export interface CommandExit {
  readonly exitCode: number;
  /** False when the process-group wrapper never ran (sudo refused, shell could not start it). */
  readonly wrapperStarted: boolean;
}

export interface RunningCommand {
  /** Resolves when the command ended and its output streams closed; rejects when the transport broke. */
  readonly exited: Promise<CommandExit>;
  /** Kills the command's whole process group (TERM, KILL after a grace); resolves when done or given up. */
  kill(): Promise<void>;
}

/**
 * Starts the command; `cancel` fires when the caller stopped waiting (timeout/abort while queued). Once `cancel`
 * fired, a transport must not start the command any more and must settle promptly: reject, or resolve with a
 * command that was already on its way (it is then killed).
 */
export type StartCommand = (sink: CommandSink, cancel: AbortSignal) => Promise<RunningCommand>;

/** How long a stopped exec waits for its transport to settle and for a command that started late to be killed. */
export const LATE_START_WAIT_MS = 5000;

export interface RawExecOptions extends ExecOptions {
  /** Bytes of stdout kept (default 8 MiB, the tail). */
  readonly maxOutputBytes?: number;
}

export interface RawExecResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly stdoutTruncated: boolean;
  readonly durationMs: number;
}

/** An executor that can also return raw bytes (file transfer, binary output). */
export interface RawExecutor extends Executor {
  execRaw(argv: readonly string[], options?: RawExecOptions): Promise<RawExecResult>;
}

export interface SuperviseInput {
  readonly host: string;
  readonly argv: readonly string[];
  readonly options: RawExecOptions;
  /** sudo was actually put in front of the command (so a missing wrapper marker means sudo refused). */
  readonly sudoUsed: boolean;
  readonly logger?: HostLogger | undefined;
  readonly start: StartCommand;
}

type Stop = 'timeout' | 'abort';

export function redactedArgv(argv: readonly string[], secrets: readonly string[] | undefined): string[] {
  return argv.map((a) => redact(a, secrets));
}

function stopError(stop: Stop, input: SuperviseInput, started: number): NinesError {
  const timeoutMs = input.options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const context = {
    host: input.host,
    argv: redactedArgv(input.argv, input.options.secrets),
    elapsedMs: Date.now() - started,
    ...(stop === 'timeout' ? { timeoutMs } : {}),
  };
  return stop === 'timeout'
    ? new NinesError(
        'NINES_E_COMMAND_TIMEOUT',
        `${input.host}: ${context.argv.join(' ')} (after ${timeoutMs} ms)`,
        {
          context,
        },
      )
    : new NinesError('NINES_E_COMMAND_ABORTED', `${input.host}: ${context.argv.join(' ')}`, { context });
}

/** Resolves with the reason to stop (timeout or abort); `cancel` clears the timer and listener. */
function stopTrigger(options: ExecOptions): { promise: Promise<Stop>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<Stop>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
    onAbort = () => resolve('abort');
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** Waits for `promise` (which never rejects) at most `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise.then(() => 'done' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

function lastLine(text: string): string {
  const line = text.trimEnd().split('\n').pop()?.trim() ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function outcomeError(input: SuperviseInput, exit: CommandExit, stderr: string): NinesError | undefined {
  const argv = redactedArgv(input.argv, input.options.secrets);
  const context = {
    host: input.host,
    argv,
    exitCode: exit.exitCode,
    stderr: tail(redact(stderr, input.options.secrets)),
  };
  if (input.sudoUsed && !exit.wrapperStarted && exit.exitCode !== 0) {
    return new NinesError('NINES_E_SUDO', `${input.host}: sudo -n refused ${argv.join(' ')}`, { context });
  }
  if (exit.exitCode !== 0 && input.options.check !== false) {
    // The command's own last word (e.g. pg_basebackup's reason) belongs in the message: job logs show messages.
    const said = lastLine(context.stderr);
    return new NinesError(
      'NINES_E_COMMAND_FAILED',
      `${input.host}: ${argv.join(' ')} exited with ${exit.exitCode}${said ? `: ${said}` : ''}`,
      { context },
    );
  }
  return undefined;
}

/** Runs one command through a transport with the full exec semantics of the Executor interface. */
export async function superviseCommand(input: SuperviseInput): Promise<RawExecResult> {
  const { options, logger } = input;
  const started = Date.now();
  if (options.signal?.aborted) throw stopError('abort', input, started);
  logger?.debug(
    { host: input.host, argv: redactedArgv(input.argv, options.secrets), sudo: input.sudoUsed },
    'exec',
  );
  const out = new StreamCollector(options.maxOutputBytes ?? DEFAULT_OUTPUT_CAP_BYTES, options.onStdoutLine);
  const err = new StreamCollector(DEFAULT_OUTPUT_CAP_BYTES, options.onStderrLine);
  const stop = stopTrigger(options);
  try {
    const cancel = new AbortController();
    const starting = input.start({ stdout: (c) => out.push(c), stderr: (c) => err.push(c) }, cancel.signal);
    const first = await Promise.race([starting, stop.promise]);
    if (typeof first === 'string') {
      cancel.abort();
      // Stopped while waiting for a channel or a connection: the transport gives up, or, if the command was
      // already on its way, it is killed before exec rejects (nothing it started outlives it). Its exit is of no
      // interest any more, but must not become an unhandled rejection (connection lost later).
      const cleanup = starting
        .then((cmd) => {
          cmd.exited.catch(() => undefined);
          return cmd.kill();
        })
        .catch(() => undefined);
      if ((await settledWithin(cleanup, LATE_START_WAIT_MS)) === 'timeout') {
        logger?.warn({ host: input.host }, 'a stopped command is still being started or killed');
      }
      throw stopError(first, input, started);
    }
    const exit = await Promise.race([first.exited, stop.promise]);
    if (typeof exit === 'string') {
      first.exited.catch(() => undefined);
      await first.kill();
      throw stopError(exit, input, started);
    }
    const stdout = out.end();
    const stderr = err.end();
    const durationMs = Date.now() - started;
    logger?.debug({ host: input.host, exitCode: exit.exitCode, durationMs }, 'exec done');
    const failure = outcomeError(input, exit, stderr.toString('utf8'));
    if (failure) throw failure;
    return { exitCode: exit.exitCode, stdout, stderr, stdoutTruncated: out.truncated, durationMs };
  } finally {
    stop.cancel();
  }
}

/** ExecResult from a raw result (the text form of Executor.exec). */
export function toExecResult(raw: RawExecResult): ExecResult {
  return {
    exitCode: raw.exitCode,
    stdout: raw.stdout.toString('utf8'),
    stderr: raw.stderr.toString('utf8'),
    durationMs: raw.durationMs,
  };
}
