// How nines runs things on a machine. One interface, three implementations: ssh (remote hosts), local (the
// controller's own machine) and a fake (unit tests). Commands are argv arrays, never shell strings; the one
// place that turns argv into a shell string is quote.ts.
import type { Readable, Writable } from 'node:stream';

export interface ExecOptions {
  /** Kill the command (its whole process group) after this long and throw NINES_E_COMMAND_TIMEOUT. Default 60 s. */
  readonly timeoutMs?: number;
  /** Abort: kill the command and throw NINES_E_COMMAND_ABORTED. */
  readonly signal?: AbortSignal;
  /**
   * Written to the command's standard input, which is then closed. A Readable is streamed (piped, so a slow
   * command slows the reader down) and the input is closed when the Readable ends.
   */
  readonly stdin?: string | Buffer | Readable;
  /**
   * Streams the raw standard output into this Writable instead of collecting it (the result's stdout is then
   * empty; onStdoutLine is not called). Backpressure: the command is paused while the Writable is full. The
   * Writable is not ended: the caller decides what a complete stream is (the command may still fail).
   */
  readonly stdoutTo?: Writable;
  /** Extra environment variables for the command. */
  readonly env?: Readonly<Record<string, string>>;
  /** Run as root through `sudo -n` when the executor's user is not root. */
  readonly sudo?: boolean;
  /** Throw NINES_E_COMMAND_FAILED on a non-zero exit (default true). */
  readonly check?: boolean;
  /** Called with each complete line of output as it arrives. */
  readonly onStdoutLine?: (line: string) => void;
  readonly onStderrLine?: (line: string) => void;
  /** Strings replaced by *** wherever the command is logged or reported (passwords in argv). */
  readonly secrets?: readonly string[];
}

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface PutFileOptions {
  /** File mode, e.g. 0o600. Default 0o644. */
  readonly mode?: number;
  /** Owner as "user" or "user:group" (needs root or sudo). */
  readonly owner?: string;
  /** Write as root through sudo when the executor's user is not root. */
  readonly sudo?: boolean;
}

export interface Executor {
  /** Host name or address this executor reaches (for messages and logs). */
  readonly host: string;
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Writes a file atomically (temp file + rename) with the given mode and owner. */
  putFile(path: string, content: string | Buffer, options?: PutFileOptions): Promise<void>;
  getFile(path: string, options?: { readonly sudo?: boolean }): Promise<Buffer>;
  /** Releases connections. The executor may be used again afterwards (it reconnects). */
  close(): Promise<void>;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
