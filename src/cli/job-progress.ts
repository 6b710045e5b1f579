// Waiting for a job: follows its log stream, showing step names and progress (a redrawn status line on a TTY,
// plain lines otherwise), and returns the job's final record. Reconnects with Last-Event-ID if the stream drops.
import { isNinesError } from '../core/errors.ts';
import type { ApiClient } from './client.ts';
import { EXIT, printJson } from './output.ts';

export interface JobView {
  readonly id: number;
  readonly type: string;
  readonly state: string;
  readonly progress: number;
  readonly currentStep: string | null;
  readonly error: { code: string; message: string; hint: string } | null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function exitCodeFor(job: JobView): number {
  if (job.state === 'failed') return EXIT.JOB_FAILED;
  if (job.state === 'cancelled') return EXIT.JOB_CANCELLED;
  return EXIT.OK;
}

class ProgressDisplay {
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private last = '';

  constructor(quiet: boolean) {
    this.quiet = quiet;
    this.tty = Boolean(process.stderr.isTTY) && !quiet;
  }

  status(job: JobView): void {
    if (this.quiet) return;
    const text = `job ${job.id} ${job.type}: ${job.state} ${job.progress}%${job.currentStep ? ` step ${job.currentStep}` : ''}`;
    if (text === this.last) return;
    this.last = text;
    process.stderr.write(this.tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }

  line(text: string): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
    console.log(text);
    this.last = '';
  }

  end(job: JobView): JobView {
    if (this.tty) process.stderr.write('\n');
    return job;
  }
}

function handleFrame(
  frame: { event: string; data: unknown },
  display: ProgressDisplay,
  logs: boolean,
): JobView | undefined {
  if (frame.event === 'log') {
    const line = frame.data as { time: string; line: string };
    if (logs) display.line(`${line.time}  ${line.line}`);
    return undefined;
  }
  const job = frame.data as JobView;
  display.status(job);
  return frame.event === 'end' || TERMINAL.has(job.state) ? display.end(job) : undefined;
}

/** Follows a job until it ends. `quiet`: no progress output (for --json). `logs`: print log lines. */
export async function followJob(
  client: ApiClient,
  id: number,
  options: { readonly quiet?: boolean; readonly logs?: boolean } = {},
): Promise<JobView> {
  const display = new ProgressDisplay(options.quiet ?? false);
  let lastLog: string | undefined;
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      for await (const frame of client.stream(
        `/jobs/${id}/logs?follow=1`,
        lastLog ? { lastEventId: lastLog } : {},
      )) {
        if (frame.event === 'log') lastLog = frame.id;
        const ended = handleFrame(frame, display, options.logs ?? false);
        if (ended) return ended;
      }
    } catch (err) {
      // Only a lost connection is retried; an answer from the controller (404, 401 ...) is final.
      if (!isNinesError(err, 'NINES_E_CONTROLLER_UNREACHABLE') || attempt >= 29) throw err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return (await client.get<{ job: JobView }>(`/jobs/${id}`)).job;
}

/** A job just submitted: print it and return (no --wait), or follow it to the end and print the outcome. */
export async function waitOrPrint(
  client: ApiClient,
  job: JobView,
  wait: boolean,
  json: boolean,
): Promise<number> {
  if (!wait) {
    if (json) printJson({ job });
    else console.log(`job ${job.id} ${job.type} queued; follow it with: nines job logs ${job.id} --follow`);
    return EXIT.OK;
  }
  const final = await followJob(client, job.id, { quiet: json, logs: !json });
  if (json) printJson({ job: final });
  else {
    console.log(`job ${final.id} ${final.type} ${final.state}`);
    if (final.error)
      console.log(`error ${final.error.code}: ${final.error.message}\nhint: ${final.error.hint}`);
  }
  return exitCodeFor(final);
}
