// The controller daemon: config -> controller (store, jobs) -> HTTP API -> listen; graceful stop on
// SIGTERM/SIGINT (stop accepting, end SSE streams, let jobs reach a checkpoint, close the database).
import { NinesError } from '../core/errors.ts';
import { loadConfig, parseListen, type LoadConfigOptions } from '../controller/config.ts';
import { Controller } from '../controller/controller.ts';
import { createLogger } from '../controller/logger.ts';
import { buildApp } from './app.ts';
import { openStreams } from './sse.ts';

export interface Daemon {
  readonly url: string;
  readonly controller: Controller;
  /** Resolves when the daemon has stopped (after a signal or stop()). */
  readonly stopped: Promise<void>;
  stop(reason?: string): Promise<void>;
}

export async function startDaemon(
  options: LoadConfigOptions & { readonly handleSignals?: boolean },
): Promise<Daemon> {
  const started = Date.now();
  const config = loadConfig(options);
  const logger = createLogger(config.logLevel);
  const controller = Controller.open({ config, logger });
  const app = buildApp(controller);
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
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  logger.info(
    { url, dataDir: config.dataDir, startupMs: Date.now() - started },
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
  return { url, controller, stopped, stop };
}
