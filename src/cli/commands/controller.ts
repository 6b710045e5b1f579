// nines controller start — runs the controller daemon in the foreground (logic in src/api/daemon.ts).
import { enableCompileCache } from 'node:module';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError } from '../output.ts';
import { parseCommand, runCommand } from '../client.ts';

const help = `Usage: nines controller start [--data-dir DIR] [--config FILE] [--listen HOST:PORT] [--insecure-http]

Runs the nines controller (API, jobs, store) in the foreground until SIGTERM or SIGINT.

Options:
  --data-dir DIR      where the database, secret key and admin.token live
                      (default $NINES_DATA_DIR, $XDG_STATE_HOME/nines or ~/.local/state/nines)
  --config FILE       YAML config file (keys: dataDir, listen, logLevel, jobs, api, monitor)
  --listen HOST:PORT  API address (default $NINES_LISTEN or 127.0.0.1:8456; port 0 = any free port).
                      Beyond loopback the API serves HTTPS: api.tls.certFile/keyFile from the config, else a
                      self-signed certificate generated in DIR on first start (its fingerprint is logged)
  --insecure-http     serve plain HTTP on an address beyond loopback anyway (logged as a warning)

Environment: NINES_DATA_DIR, NINES_LISTEN, NINES_LOG_LEVEL, NINES_JOBS_MAX_CONCURRENT, NINES_SHUTDOWN_GRACE_MS,
NINES_SSE_HEARTBEAT_MS, NINES_API_INSECURE_HTTP, NINES_MONITOR_*, NINES_METRICS_* (docs/api.md lists the api.* limits). Logs are JSON lines on stdout.
On first start an admin API token is written to DIR/admin.token (mode 0600).`;

export const group: CommandGroup = {
  summary: 'run the controller daemon',
  help,
  run: (args) =>
    runCommand(false, async () => {
      const { values, positionals } = parseCommand(args, {
        'data-dir': { type: 'string' },
        config: { type: 'string' },
        listen: { type: 'string' },
        'insecure-http': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      });
      if (values.help) {
        console.log(help);
        return EXIT.OK;
      }
      if (positionals[0] !== 'start' || positionals.length > 1) {
        throw new UsageError(`expected 'nines controller start', got '${positionals.join(' ')}'`);
      }
      // Node's compile cache (in the OS temp dir) cuts start-up time and memory of the next starts by about 4x.
      enableCompileCache();
      const { startDaemon } = await import('../../api/daemon.ts');
      const daemon = await startDaemon({
        ...(values.config ? { file: values.config } : {}),
        overrides: {
          ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
          ...(values.listen ? { listen: values.listen } : {}),
          ...(values['insecure-http'] ? { insecureHttp: true } : {}),
        },
      });
      await daemon.stopped;
      return EXIT.OK;
    }),
};
