// A scripted Executor for unit tests: records every call and answers by argv pattern. It runs through the same
// supervision code as the real executors (src/hosts/exec-core.ts), so check/timeout/abort/line streaming and
// the error codes behave exactly as over ssh.
//
//   const fake = new FakeExecutor('db1')
//     .on(['systemctl', 'is-active'], { exitCode: 3 })
//     .on(/^mariadb -e/, { stdout: 'ON\n' })
//     .on((argv) => argv[0] === 'sleep', { delayMs: 10_000 });
//   await engine.probe(fake);
//   assert.deepEqual(fake.commands(), ['systemctl is-active mariadb', ...]);
//
// A command nobody scripted is an error naming its argv (a plain Error, not a NinesError), and the test file fails at its end even when the code under test swallowed that error. Script
// every command the test expects, or set `fallback` explicitly when "anything else exits 0" is what you mean.
import { Readable } from 'node:stream';
import { after } from 'node:test';
import type { ExecOptions, ExecResult, Executor, PutFileOptions } from '../../src/hosts/executor.ts';
import { superviseCommand, toExecResult } from '../../src/hosts/exec-core.ts';
import type {
  RawExecOptions,
  RawExecResult,
  RawExecutor,
  RunningCommand,
} from '../../src/hosts/exec-core.ts';
import { NinesError } from '../../src/core/errors.ts';

export interface FakeReply {
  readonly exitCode?: number;
  readonly stdout?: string | Buffer;
  readonly stderr?: string;
  /** The command "runs" this long (timeouts and aborts apply). */
  readonly delayMs?: number;
  /** Simulate a sudo refusal (only meaningful with sudo: true): NINES_E_SUDO. */
  readonly sudoRefused?: boolean;
  /** Fail at the transport level (e.g. a NinesError NINES_E_HOST_UNREACHABLE). */
  readonly error?: Error;
}

export type FakeResponder = FakeReply | ((call: FakeCall) => FakeReply | Promise<FakeReply>);

/** A string matches argv joined by spaces exactly or as a prefix of whole words; an array matches element-wise as a prefix. */
export type FakePattern =
  string | RegExp | readonly (string | RegExp)[] | ((argv: readonly string[]) => boolean);

export interface FakeCall {
  readonly kind: 'exec' | 'putFile' | 'getFile';
  readonly argv: readonly string[];
  readonly options: ExecOptions;
  /** For putFile: the path, content and options. */
  readonly path?: string;
  readonly content?: Buffer;
  readonly putOptions?: PutFileOptions;
  /** The command was killed (timeout or abort). */
  killed: boolean;
  /** What a streamed stdin (a Readable) delivered; the command "runs" until that stream ended. */
  streamedStdin?: Buffer;
}

/** Collects a streamed stdin; resolves at its end, never when it is destroyed (like a real command waiting). */
function drain(stream: Readable, call: FakeCall): Promise<void> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      call.streamedStdin = Buffer.concat(chunks);
    });
    stream.once('end', () => resolve());
  });
}

function matches(pattern: FakePattern, argv: readonly string[]): boolean {
  const line = argv.join(' ');
  if (typeof pattern === 'function') return pattern(argv);
  if (typeof pattern === 'string') return line === pattern || line.startsWith(`${pattern} `);
  if (pattern instanceof RegExp) return pattern.test(line);
  return (
    pattern.length <= argv.length &&
    pattern.every((p, i) => {
      const a = argv[i] ?? '';
      return typeof p === 'string' ? a === p : p.test(a);
    })
  );
}

export class FakeExecutor implements Executor, RawExecutor {
  readonly host: string;
  readonly calls: FakeCall[] = [];
  /** Files written with putFile (and readable with getFile). */
  readonly files = new Map<string, { content: Buffer; options: PutFileOptions }>();
  /** Replies used when no pattern matches. Default: none (an unscripted command throws). */
  fallback: FakeResponder | undefined = undefined;
  /** Every unscripted command run by any FakeExecutor of this test file ("host: argv"), for the final check. */
  static readonly unscripted: string[] = [];
  #rules: { pattern: FakePattern; responder: FakeResponder; times: number }[] = [];
  closed = 0;

  constructor(host = 'fake-host') {
    this.host = host;
  }

  /** Adds a rule; later rules win over earlier ones. `times` limits how often it answers (default unlimited). */
  on(pattern: FakePattern, responder: FakeResponder, times = Infinity): this {
    this.#rules.unshift({ pattern, responder, times });
    return this;
  }

  /** The exec calls as readable strings (argv joined by spaces), for assertions. */
  commands(): string[] {
    return this.calls.filter((c) => c.kind === 'exec').map((c) => c.argv.join(' '));
  }

  reset(): void {
    this.calls.length = 0;
    this.#rules = [];
    this.files.clear();
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return toExecResult(await this.execRaw(argv, options));
  }

  async execRaw(argv: readonly string[], options: RawExecOptions = {}): Promise<RawExecResult> {
    if (argv.length === 0) throw new NinesError('NINES_E_INVALID_ARGUMENT', 'empty command');
    const call: FakeCall = { kind: 'exec', argv: [...argv], options, killed: false };
    this.calls.push(call);
    const responder = this.#take(call.argv);
    if (responder === undefined) {
      const line = `${this.host}: ${JSON.stringify(argv)}`;
      FakeExecutor.unscripted.push(line);
      throw new Error(`FakeExecutor: no script for the command ${line} (add .on(pattern, reply))`);
    }
    return superviseCommand({
      host: this.host,
      argv,
      options,
      sudoUsed: options.sudo === true,
      start: async (sink) => {
        const reply = typeof responder === 'function' ? await responder(call) : responder;
        if (reply.error) throw reply.error;
        let finish: () => void = () => undefined;
        const input = options.stdin instanceof Readable ? drain(options.stdin, call) : Promise.resolve();
        const exited = new Promise<{ exitCode: number; wrapperStarted: boolean }>((resolve) => {
          finish = () => {
            if (reply.stdout !== undefined && options.stdoutTo) options.stdoutTo.write(reply.stdout);
            else if (reply.stdout !== undefined) sink.stdout(Buffer.from(reply.stdout));
            if (reply.stderr !== undefined) sink.stderr(Buffer.from(reply.stderr));
            resolve({
              exitCode: reply.sudoRefused ? 1 : (reply.exitCode ?? 0),
              wrapperStarted: !reply.sudoRefused,
            });
          };
        });
        // With a streamed stdin the command ends when its input ends, or after delayMs when one is given.
        let timer: NodeJS.Timeout | undefined;
        if (options.stdin instanceof Readable && reply.delayMs === undefined) {
          void input.then(() => {
            if (!call.killed) finish();
          });
        } else timer = setTimeout(() => finish(), reply.delayMs ?? 0);
        const running: RunningCommand = {
          exited,
          kill: () => {
            clearTimeout(timer);
            call.killed = true;
            return Promise.resolve();
          },
        };
        return running;
      },
    });
  }

  async putFile(path: string, content: string | Buffer, options: PutFileOptions = {}): Promise<void> {
    const buf = Buffer.from(content);
    this.calls.push({
      kind: 'putFile',
      argv: [],
      options: {},
      path,
      content: buf,
      putOptions: options,
      killed: false,
    });
    this.files.set(path, { content: buf, options });
    return Promise.resolve();
  }

  async getFile(path: string, options: { readonly sudo?: boolean } = {}): Promise<Buffer> {
    this.calls.push({ kind: 'getFile', argv: [], options, path, killed: false });
    const file = this.files.get(path);
    if (!file) {
      throw new NinesError('NINES_E_FILE_TRANSFER', `get ${this.host}:${path}: no such file (fake)`, {
        context: { host: this.host, path },
      });
    }
    return Promise.resolve(file.content);
  }

  close(): Promise<void> {
    this.closed += 1;
    return Promise.resolve();
  }

  #take(argv: readonly string[]): FakeResponder | undefined {
    const rule = this.#rules.find((r) => r.times > 0 && matches(r.pattern, argv));
    if (rule) rule.times -= 1;
    return rule?.responder ?? this.fallback;
  }
}

// The code under test may catch the error above (a probe that reports "failed", a best-effort cleanup): the
// file still fails, naming the commands.
after(() => {
  if (FakeExecutor.unscripted.length === 0) return;
  const lines = FakeExecutor.unscripted.splice(0);
  throw new Error(`FakeExecutor: ${lines.length} unscripted command(s) ran:\n  ${lines.join('\n  ')}`);
});
