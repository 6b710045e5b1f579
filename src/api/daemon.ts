// The controller daemon: config -> TLS (api-tls.ts) -> controller (store, jobs) -> HTTP(S) API -> listen; graceful stop on
// SIGTERM/SIGINT (stop accepting, end SSE streams, let jobs reach a checkpoint, close the database).
import { NinesError } from '../core/errors.ts';
import { loadApiTls } from '../controller/api-tls.ts';
import { loadConfig, parseListen, type LoadConfigOptions } from '../controller/config.ts';
import { Controller, type ControllerOptions } from '../controller/controller.ts';
import { createLogger } from '../controller/logger.ts';
import { buildApp } from './app.ts';
import { openStreams } from './sse.ts';

export interface Daemon {
  readonly url: string;
  /** SHA-256 fingerprint of the API certificate when the API serves HTTPS. */
  readonly fingerprint: string | undefined;
  readonly controller: Controller;
  /** Resolves when the daemon has stopped (after a signal or stop()). */
  readonly stopped: Promise<void>;
  stop(reason?: string): Promise<void>;
}

export interface DaemonOptions extends LoadConfigOptions {
  readonly handleSignals?: boolean;
  /** Extra wiring of the controller (test doubles; `nines controller start` passes none). */
  readonly controller?: Omit<ControllerOptions, 'config' | 'logger'>;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const started = Date.now();
  const config = loadConfig(options);
  const logger = createLogger(config.logLevel);
  const controller = Controller.open({ ...options.controller, config, logger });
  let tls: ReturnType<typeof loadApiTls>;
  try {
    tls = loadApiTls(config, logger); // after open(): the data directory exists and is locked
  } catch (err) {
    await controller.close(0);
    throw err;
  }
  const app = buildApp(controller, tls ? { tls } : {});
  controller.start();
  const { host, port } = parseListen(config.listen);
  try {
    await app.listen({ host, port });
  } catch (err) {
    await controller.close(0);
    throw new NinesError('NINES_E_LISTEN', `${config.listen}: ${(err as Error).message}`, { cause: err });
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  logger.info(
    { url, dataDir: config.dataDir, startupMs: Date.now() - started, fingerprint: tls?.fingerprint },
    `nines controller listening on ${url}`,
  );

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const stop = (reason = 'stop requested'): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ reason }, 'shutting down: no new requests, jobs reach a checkpoint');
      for (const s of [...openStreams]) s.close();
      try {
        await app.close();
      } catch (err) {
        logger.error({ err }, 'closing the HTTP server failed; closing the controller anyway');
      }
      try {
        await controller.close(); // never throws: closes every part, always releases the lock
      } finally {
        logger.info('controller stopped');
        resolveStopped();
      }
    })());
  if (options.handleSignals !== false) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        void stop(signal);
      });
    }
  }
  return { url, fingerprint: tls?.fingerprint, controller, stopped, stop };
}
