// Output handling shared by every executor: a bounded tail buffer (a chatty command must not exhaust the
// controller's memory) and a splitter that turns chunks into complete lines for the streaming callbacks.
import { StringDecoder } from 'node:string_decoder';

/** Bytes of each stream kept for ExecResult: the last 8 MiB. */
export const DEFAULT_OUTPUT_CAP_BYTES = 8 * 1024 * 1024;
/** A "line" without a newline is cut at this length so a binary stream cannot grow one line forever. */
const MAX_LINE_CHARS = 1024 * 1024;

/** Keeps the last `cap` bytes written to it. */
export class TailBuffer {
  readonly #cap: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #truncated = false;

  constructor(cap: number) {
    this.#cap = cap;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    while (this.#length > this.#cap) {
      const first = this.#chunks[0];
      if (first === undefined) break;
      const excess = this.#length - this.#cap;
      this.#truncated = true;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#length -= first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#length -= excess;
      }
    }
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#chunks, this.#length);
  }
}

/** Splits a byte stream into UTF-8 lines ("\n" or "\r\n"); `end()` flushes a last line without newline. */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(onLine: (line: string) => void) {
    this.#onLine = onLine;
  }

  push(chunk: Buffer): void {
    this.#consume(this.#decoder.write(chunk));
  }

  end(): void {
    this.#consume(this.#decoder.end());
    if (this.#pending.length > 0) this.#emit(this.#pending);
    this.#pending = '';
  }

  #consume(text: string): void {
    if (text.length === 0) return;
    const parts = (this.#pending + text).split('\n');
    this.#pending = parts.pop() ?? '';
    for (const line of parts) this.#emit(line.endsWith('\r') ? line.slice(0, -1) : line);
    while (this.#pending.length > MAX_LINE_CHARS) {
      this.#emit(this.#pending.slice(0, MAX_LINE_CHARS));
      this.#pending = this.#pending.slice(MAX_LINE_CHARS);
    }
  }

  #emit(line: string): void {
    // A throwing callback must not break the command's bookkeeping; the caller's bug stays the caller's.
    try {
      this.#onLine(line);
    } catch {
      // ignored on purpose
    }
  }
}

/** One output stream of a command: the bounded copy for the result plus optional line streaming. */
export class StreamCollector {
  readonly #tail: TailBuffer;
  readonly #lines: LineSplitter | undefined;

  constructor(cap: number, onLine: ((line: string) => void) | undefined) {
    this.#tail = new TailBuffer(cap);
    this.#lines = onLine ? new LineSplitter(onLine) : undefined;
  }

  get truncated(): boolean {
    return this.#tail.truncated;
  }

  push(chunk: Buffer): void {
    this.#tail.push(chunk);
    this.#lines?.push(chunk);
  }

  end(): Buffer {
    this.#lines?.end();
    return this.#tail.toBuffer();
  }
}

/** The last `maxChars` characters of a text, for error contexts. */
export function tail(text: string, maxChars = 2000): string {
  return text.length <= maxChars ? text : `...${text.slice(-maxChars)}`;
}

/**
 * The line of a server log that says why it stopped: the last `[ERROR]` line (MariaDB), `FATAL:`/`PANIC:`
 * (PostgreSQL), else the last non-empty line. Pure.
 */
export function lastErrorLine(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  // MariaDB's "[ERROR] Aborting" only says that it stopped, not why.
  const bad = lines.filter(
    (l) => /\[ERROR\]|\bFATAL:|\bPANIC:|\bERROR:/.test(l) && !/\[ERROR\] Aborting\s*$/.test(l),
  );
  return bad.at(-1) ?? lines.at(-1) ?? '';
}
