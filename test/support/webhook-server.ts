// A webhook receiver for tests: an HTTP server on 127.0.0.1 (ephemeral port) that records every request and answers
// with scripted statuses (then 200), optionally after a delay.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface WebhookServerOptions {
  /** Status of the 1st, 2nd, ... request; 200 after the list ends (or `after`). */
  readonly statuses?: readonly number[];
  readonly after?: number;
  /** Delay before answering, in ms. */
  readonly delayMs?: number;
}

export interface WebhookServer {
  readonly port: number;
  readonly requests: readonly ReceivedRequest[];
  url(path?: string): string;
  /** Resolves with the requests once at least n arrived; rejects after timeoutMs. */
  waitForRequests(n: number, timeoutMs: number): Promise<readonly ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startWebhookServer(options: WebhookServerOptions = {}): Promise<WebhookServer> {
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = options.statuses?.[requests.length] ?? options.after ?? 200;
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      for (const w of waiters) w();
      const answer = (): void => {
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
      };
      if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests,
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    waitForRequests(n, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`webhook server: ${requests.length} of ${n} requests after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
