// How a transport connects a command's standard streams to ExecOptions, the same for an ssh channel and a
// local child process: stdin from a string/Buffer or streamed from a Readable, stdout collected or streamed
// into a Writable. Streaming uses pipe(), so a full Writable pauses the command's output (for ssh the channel
// window then stops growing and the remote command blocks) and a slow command pauses the Readable.
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import type { CommandSink } from './exec-core.ts';

/** Gives the command its input: written and closed, or piped from a Readable (closed when it ends). */
export function feedStdin(stdin: Writable, input: string | Buffer | Readable | undefined): void {
  if (input instanceof Readable) {
    // A Readable that fails or is destroyed does NOT close the input: a half stream must never look
    // complete to the command. The caller stops the command instead (abort).
    input.pipe(stdin);
    return;
  }
  stdin.end(input);
}

/** Routes the command's output: into the sink (collected, split into lines) or piped into `to`. */
export function routeStdout(stdout: Readable, sink: CommandSink, to: Writable | undefined): void {
  if (to) {
    // Not ended here: whether the stream was complete depends on the command's exit status.
    stdout.pipe(to, { end: false });
    return;
  }
  stdout.on('data', (chunk: Buffer) => sink.stdout(chunk));
}
