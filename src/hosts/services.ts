// Starting and stopping daemons on a host. With systemd as PID 1 the manager maps onto systemctl and a unit;
// without it (containers, lab hosts) it runs the daemon itself with a pidfile (service-commands.ts says how).
import { NinesError, isNinesError } from '../core/errors.ts';
import type { Executor } from './executor.ts';
import { tail } from './output.ts';
import {
  DEFAULT_RUN_DIR,
  DETECT_SYSTEMD_ARGV,
  checkServiceName,
  defaultPidFile,
  directStartArgv,
  directStatusArgv,
  directStopArgv,
  parseDirectStatus,
  unitName,
} from './service-commands.ts';

export type ServiceMode = 'systemd' | 'direct';

export interface ReadyCheck {
  /** Ready when this command exits 0 (it is retried until then). */
  readonly argv: readonly string[];
  /** Default 30 s. */
  readonly timeoutMs?: number;
  /** Default 200 ms. */
  readonly intervalMs?: number;
}

export interface ServiceSpec {
  /** Letters, digits, _ . @ - ; names the pidfile (direct) or the unit `<name>.service` (systemd). */
  readonly name: string;
  /** Direct mode: the daemon's foreground command (it must not fork into the background). */
  readonly argv: readonly string[];
  /** Direct mode: run as this user and its groups (setpriv). Default: the executor's user (or root with sudo). */
  readonly user?: string;
  /** Direct mode: stdout and stderr are appended here. */
  readonly logFile: string;
  /** Direct mode: default /run/nines/<name>.pid. */
  readonly pidFile?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Direct mode: working directory. Default /. */
  readonly cwd?: string;
  /** systemd mode: unit name. Default `<name>.service`. */
  readonly unit?: string;
  readonly readyCheck?: ReadyCheck;
}

/** What stop/status need to find a service again: its name, and pidFile/unit if not the defaults. */
export type ServiceRef = string | Pick<ServiceSpec, 'name' | 'pidFile' | 'unit'>;

export interface ServiceStatus {
  readonly state: 'running' | 'stopped';
  readonly pid?: number;
  readonly mode: ServiceMode;
}

export interface StopOptions {
  /** Grace after TERM before KILL (direct) or systemctl's own timeout bound (systemd). Default 30 s. */
  readonly timeoutMs?: number;
}

export interface ServiceManager {
  mode(): Promise<ServiceMode>;
  /** Starts the service unless it runs already; waits until it runs (and its readyCheck passes). */
  start(spec: ServiceSpec): Promise<void>;
  stop(service: ServiceRef, options?: StopOptions): Promise<void>;
  status(service: ServiceRef): Promise<ServiceStatus>;
  restart(spec: ServiceSpec, options?: StopOptions): Promise<void>;
}

export interface ServiceManagerOptions {
  /** Force a mode instead of detecting it. */
  readonly mode?: ServiceMode;
  /** Run service commands through sudo when the executor's user is not root. Default true. */
  readonly sudo?: boolean;
  /** Where default pidfiles live. Default /run/nines. */
  readonly runDir?: string;
  /** How long to wait for a started daemon to appear in its pidfile. Default 10 s. */
  readonly startTimeoutMs?: number;
}

const DEFAULT_STOP_TIMEOUT_MS = 30_000;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function refName(ref: ServiceRef): string {
  return typeof ref === 'string' ? ref : ref.name;
}

function serviceError(
  executor: Executor,
  name: string,
  detail: string,
  extra: Record<string, unknown> = {},
  cause?: unknown,
): NinesError {
  return new NinesError('NINES_E_SERVICE', `${executor.host}: ${name}: ${detail}`, {
    context: { host: executor.host, service: name, ...extra },
    cause,
  });
}

class HostServiceManager implements ServiceManager {
  readonly #executor: Executor;
  readonly #options: ServiceManagerOptions;
  #mode: Promise<ServiceMode> | undefined;

  constructor(executor: Executor, options: ServiceManagerOptions) {
    this.#executor = executor;
    this.#options = options;
  }

  mode(): Promise<ServiceMode> {
    if (this.#options.mode) return Promise.resolve(this.#options.mode);
    this.#mode ??= this.#run(DETECT_SYSTEMD_ARGV).then(
      (out) => (out.trim() === 'systemd' ? 'systemd' : 'direct'),
      (err: unknown) => {
        this.#mode = undefined;
        throw err;
      },
    );
    return this.#mode;
  }

  async start(spec: ServiceSpec): Promise<void> {
    checkServiceName(spec.name);
    if ((await this.mode()) === 'systemd') {
      await this.#run(['systemctl', 'start', unitName(spec.name, spec.unit)]);
    } else {
      await this.#startDirect(spec);
    }
    if (spec.readyCheck) await this.#waitReady(spec, spec.readyCheck);
  }

  async stop(service: ServiceRef, options: StopOptions = {}): Promise<void> {
    const name = refName(service);
    const timeoutMs = options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    if ((await this.mode()) === 'systemd') {
      await this.#run(
        ['systemctl', 'stop', unitName(name, typeof service === 'string' ? undefined : service.unit)],
        timeoutMs + 10_000,
      );
      return;
    }
    const pidFile = this.#pidFile(service);
    try {
      await this.#run(directStopArgv(pidFile, timeoutMs), timeoutMs + 15_000);
    } catch (err) {
      throw serviceError(this.#executor, name, 'did not stop', { pidFile }, err);
    }
  }

  async status(service: ServiceRef): Promise<ServiceStatus> {
    const name = refName(service);
    if ((await this.mode()) === 'systemd') {
      const unit = unitName(name, typeof service === 'string' ? undefined : service.unit);
      const active = await this.#exec(['systemctl', 'is-active', '--quiet', unit], { check: false });
      if (active.exitCode !== 0) return { state: 'stopped', mode: 'systemd' };
      const pid = Number(
        (await this.#run(['systemctl', 'show', '--property=MainPID', '--value', unit])).trim(),
      );
      return { state: 'running', mode: 'systemd', ...(pid > 0 ? { pid } : {}) };
    }
    const st = parseDirectStatus(await this.#run(directStatusArgv(this.#pidFile(service))));
    return st.state === 'running'
      ? { state: 'running', pid: st.pid, mode: 'direct' }
      : { state: 'stopped', mode: 'direct' };
  }

  async restart(spec: ServiceSpec, options: StopOptions = {}): Promise<void> {
    if ((await this.mode()) === 'systemd') {
      await this.#run(
        ['systemctl', 'restart', unitName(spec.name, spec.unit)],
        (options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS) + 30_000,
      );
      if (spec.readyCheck) await this.#waitReady(spec, spec.readyCheck);
      return;
    }
    await this.stop(spec, options);
    await this.start(spec);
  }

  #pidFile(service: ServiceRef): string {
    if (typeof service !== 'string' && service.pidFile !== undefined) return service.pidFile;
    return defaultPidFile(refName(service), this.#options.runDir ?? DEFAULT_RUN_DIR);
  }

  async #startDirect(spec: ServiceSpec): Promise<void> {
    const pidFile = this.#pidFile(spec);
    const current = parseDirectStatus(await this.#run(directStatusArgv(pidFile)));
    if (current.state === 'running') return;
    await this.#run(directStartArgv({ ...spec, pidFile }));
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? 10_000);
    for (;;) {
      const st = parseDirectStatus(await this.#run(directStatusArgv(pidFile)));
      if (st.state === 'running') return;
      if (st.state === 'stopped' && st.dead) {
        throw await this.#failure(spec, pidFile, 'exited right after it was started');
      }
      if (Date.now() > deadline) throw await this.#failure(spec, pidFile, 'did not come up');
      await sleep(POLL_MS);
    }
  }

  async #waitReady(spec: ServiceSpec, check: ReadyCheck): Promise<void> {
    const deadline = Date.now() + (check.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    for (;;) {
      const res = await this.#exec(check.argv, {
        check: false,
        timeoutMs: Math.max(1000, deadline - Date.now()),
      }).catch((err: unknown) => {
        if (isNinesError(err, 'NINES_E_COMMAND_TIMEOUT')) return { exitCode: -1 };
        throw err;
      });
      if (res.exitCode === 0) return;
      // Two readings apart: a daemon that re-executes itself (HAProxy's master does, after loading) shows an
      // empty /proc/PID/cmdline for a moment and would look stopped.
      if (!(await this.#runningSoon(spec))) {
        throw await this.#failure(spec, this.#pidFile(spec), 'stopped before it became ready');
      }
      if (Date.now() > deadline) throw await this.#failure(spec, this.#pidFile(spec), 'did not become ready');
      await sleep(check.intervalMs ?? 200);
    }
  }

  async #runningSoon(spec: ServiceSpec): Promise<boolean> {
    if ((await this.status(spec)).state === 'running') return true;
    await sleep(POLL_MS * 3);
    return (await this.status(spec)).state === 'running';
  }

  async #failure(spec: ServiceSpec, pidFile: string, what: string): Promise<NinesError> {
    const log = await this.#exec(['tail', '-n', '30', '--', spec.logFile], { check: false }).then(
      (r) => r.stdout,
      () => '',
    );
    return serviceError(this.#executor, spec.name, what, {
      logFile: spec.logFile,
      pidFile,
      logTail: tail(log),
    });
  }

  #exec(argv: readonly string[], options: { check?: boolean; timeoutMs?: number } = {}) {
    return this.#executor.exec(argv, { sudo: this.#options.sudo ?? true, ...options });
  }

  async #run(argv: readonly string[], timeoutMs?: number): Promise<string> {
    return (await this.#exec(argv, timeoutMs === undefined ? {} : { timeoutMs })).stdout;
  }
}

export function createServiceManager(
  executor: Executor,
  options: ServiceManagerOptions = {},
): ServiceManager {
  return new HostServiceManager(executor, options);
}
