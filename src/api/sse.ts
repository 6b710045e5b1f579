// Server-Sent Events: the response is taken over from Fastify (hijack) and written as
//   id: <n>\nevent: <name>\ndata: <json>\n\n
// with heartbeat comments so proxies keep idle streams open. A client too slow to read (over 1 MiB buffered) is
// disconnected; it resumes with Last-Event-ID and loses nothing.
import type { FastifyReply, FastifyRequest } from 'fastify';

const MAX_BUFFERED = 1 << 20;

export interface SseStream {
  send(data: unknown, options?: { readonly id?: number; readonly event?: string }): void;
  close(): void;
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

/** Open streams, so shutdown can end them (an open stream would keep the HTTP server from closing). */
export const openStreams = new Set<SseStream>();

export function openSse(req: FastifyRequest, reply: FastifyReply, heartbeatMs: number): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
  });
  res.write('retry: 2000\n\n');
  const closers: (() => void)[] = [];
  let closed = false;
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs);
  const stream: SseStream = {
    send(data, options = {}) {
      let frame = '';
      if (options.id !== undefined) frame += `id: ${options.id}\n`;
      if (options.event) frame += `event: ${options.event}\n`;
      frame += `data: ${JSON.stringify(data)}\n\n`;
      write(frame);
    },
    close,
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
    get closed() {
      return closed;
    },
  };
  function write(frame: string): void {
    if (closed) return;
    res.write(frame);
    if (res.writableLength > MAX_BUFFERED) close();
  }
  function close(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    openStreams.delete(stream);
    for (const fn of closers) fn();
    res.end();
  }
  req.raw.on('close', close);
  res.on('error', close);
  openStreams.add(stream);
  return stream;
}

/** The id to resume after: the Last-Event-ID header wins over ?since=. */
export function resumeId(req: FastifyRequest, since: number | undefined): number | undefined {
  const header = req.headers['last-event-id'];
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined && /^\d+$/.test(value.trim())) return Number(value.trim());
  return since;
}
