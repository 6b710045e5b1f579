// Controller configuration: one YAML file + NINES_* environment variables + command-line flags, validated at
// startup by one zod schema (defaults inside, unknown keys rejected with the key named), then deeply frozen.
// Precedence: flags > environment > file > defaults.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { NinesError } from '../core/errors.ts';
import { deepFreeze } from '../core/spec.ts';
import { parseOrThrow } from '../core/validation.ts';
import { defaultDataDir } from './paths.ts';

export { defaultDataDir };

const LISTEN = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const ms = (min: number): z.ZodNumber =>
  z.number('expected a number of milliseconds').int().min(min, `expected >= ${min}`);

const ApiConfigSchema = z
  .strictObject({
    /** Interval of SSE heartbeat comments (keeps proxies from closing idle streams). */
    sseHeartbeatMs: ms(100).default(15_000),
    bodyLimitBytes: z.number('expected a number').int().min(1024, 'expected >= 1024').default(1_048_576),
    /** Whole request (headers and body) must arrive within this; slower clients get 408 and are closed. */
    requestTimeoutMs: ms(100).default(30_000),
    /** Headers must arrive within this (at most requestTimeoutMs). */
    headersTimeoutMs: ms(100).default(10_000),
    /** A socket with no traffic either way for this long is closed (above sseHeartbeatMs). */
    idleTimeoutMs: ms(1000).default(120_000),
    /** An idle keep-alive connection is closed after this. */
    keepAliveTimeoutMs: ms(100).default(5_000),
    /** Request line + headers (431 above it). */
    maxHeaderBytes: z.number('expected a number').int().min(1024, 'expected >= 1024').default(16_384),
    /** A path parameter (cluster name, job id, ...) longer than this gets 414. */
    maxParamLength: z.number('expected a number').int().min(64, 'expected >= 64').default(200),
    /** Wrong tokens allowed per client address per authFailureWindowMs before 429 (token bucket). */
    authFailureLimit: z.number('expected a number').int().min(1, 'expected >= 1').default(10),
    authFailureWindowMs: ms(1000).default(60_000),
    /** PEM certificate and key for HTTPS (both or neither). Without them, a listen address beyond loopback
     * gets a self-signed certificate generated in the data directory on first start. */
    tls: z
      .strictObject({
        certFile: z.string('expected a file path').min(1, 'expected a file path'),
        keyFile: z.string('expected a file path').min(1, 'expected a file path'),
      })
      .optional(),
    /** Serve plain HTTP on an address beyond loopback (logged as a warning). */
    insecureHttp: z.boolean('expected true or false').default(false),
  })
  .refine((a) => a.headersTimeoutMs <= a.requestTimeoutMs, {
    message: 'headersTimeoutMs must not be above requestTimeoutMs',
    path: ['headersTimeoutMs'],
  })
  .refine((a) => a.sseHeartbeatMs < a.idleTimeoutMs, {
    message: 'sseHeartbeatMs must be below idleTimeoutMs (or idle event streams are cut)',
    path: ['sseHeartbeatMs'],
  })
  .refine((a) => !(a.tls && a.insecureHttp), {
    message: 'insecureHttp and tls exclude each other',
    path: ['insecureHttp'],
  });

const API_DEFAULTS = {
  sseHeartbeatMs: 15_000,
  bodyLimitBytes: 1_048_576,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16_384,
  maxParamLength: 200,
  authFailureLimit: 10,
  authFailureWindowMs: 60_000,
  insecureHttp: false,
} as const;

export const ConfigSchema = z.strictObject({
  /** Where the SQLite file, the secret key and admin.token live. */
  dataDir: z.string('expected a directory path').min(1, 'expected a directory path'),
  /** host:port the API listens on (port 0 = any free port). */
  listen: z
    .string('expected HOST:PORT')
    .regex(LISTEN, 'expected HOST:PORT')
    .refine((v) => Number(LISTEN.exec(v)?.[2]) <= 65535, 'expected a port 0-65535')
    .default('127.0.0.1:8456'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  jobs: z
    .strictObject({
      /** Jobs running at once across all clusters (writing jobs are also limited to one per cluster). */
      maxConcurrent: z
        .number('expected a number')
        .int()
        .min(1, 'expected 1-256')
        .max(256, 'expected 1-256')
        .default(16),
      /** On SIGTERM, how long running jobs get to reach a checkpoint before they are interrupted. */
      shutdownGraceMs: z.number('expected a number').int().min(0, 'expected >= 0').default(10_000),
    })
    .default({ maxConcurrent: 16, shutdownGraceMs: 10_000 }),
  api: ApiConfigSchema.default(API_DEFAULTS),
  /** Monitoring (docs/monitoring.md): probe cadence, and who may scrape GET /metrics. */
  monitor: z
    .strictObject({
      /** Start the monitor loops (every cluster in the store) with the controller. */
      enabled: z.boolean('expected true or false').default(true),
      /** Probe interval of every node (the next probe starts this long after the previous tick started). */
      intervalMs: z.number('expected a number').int().min(100, 'expected >= 100').default(1000),
      /** Bound on one probe; must be below intervalMs. */
      probeTimeoutMs: z.number('expected a number').int().min(50, 'expected >= 50').default(800),
      /** Host statistics (CPU, memory, disk) over SSH. */
      hostStatsIntervalMs: z.number('expected a number').int().min(1000, 'expected >= 1000').default(10_000),
      /** HAProxy backend states from each proxy host. */
      proxyIntervalMs: z.number('expected a number').int().min(1000, 'expected >= 1000').default(5000),
      /** Metric downsampling and retention pass. */
      retentionIntervalMs: z.number('expected a number').int().min(1000, 'expected >= 1000').default(30_000),
      /** A bearer token that may scrape GET /metrics (besides any API token). */
      metricsToken: z.string('expected a token').min(16, 'expected at least 16 characters').optional(),
      /** Let anyone scrape GET /metrics without a token (read-only figures; no secrets). */
      metricsPublic: z.boolean('expected true or false').default(false),
    })
    .refine((m) => m.probeTimeoutMs < m.intervalMs, {
      message: 'probeTimeoutMs must be below intervalMs',
      path: ['probeTimeoutMs'],
    })
    .default({
      enabled: true,
      intervalMs: 1000,
      probeTimeoutMs: 800,
      hostStatsIntervalMs: 10_000,
      proxyIntervalMs: 5000,
      retentionIntervalMs: 30_000,
      metricsPublic: false,
    }),
  /** Automatic failover, switchover and rejoin (docs/failure-modes.md). */
  recovery: z
    .strictObject({
      /** Automatic failover of clusters that did not turn it off (nines recovery off NAME). */
      enabled: z.boolean('expected true or false').default(true),
      /** After a failover, a second automatic one of the same cluster is refused this long (anti-flap). */
      cooldownMs: z.number('expected a number').int().min(0, 'expected >= 0').default(300_000),
      /** Bound on each replica host's check of the primary's port, and on reading the proxies. */
      portCheckMs: z.number('expected a number').int().min(100, 'expected >= 100').default(1000),
      /** Bound on reading one node's position. */
      positionMs: z.number('expected a number').int().min(100, 'expected >= 100').default(1000),
      /** Bound on fencing the old primary (a dead host must not hold the failover up). */
      fenceMs: z.number('expected a number').int().min(100, 'expected >= 100').default(1500),
      /** How long the candidate may take to apply what it received. */
      catchUpMs: z.number('expected a number').int().min(100, 'expected >= 100').default(10_000),
      /** Bound on promote, repoint and demote. */
      verbMs: z.number('expected a number').int().min(1000, 'expected >= 1000').default(10_000),
      /** Pause between rejoin attempts of a fenced former primary. */
      rejoinIntervalMs: z.number('expected a number').int().min(100, 'expected >= 100').default(2000),
    })
    .default({
      enabled: true,
      cooldownMs: 300_000,
      portCheckMs: 1000,
      positionMs: 1000,
      fenceMs: 1500,
      catchUpMs: 10_000,
      verbMs: 10_000,
      rejoinIntervalMs: 2000,
    }),
});
export type ControllerConfig = Readonly<z.output<typeof ConfigSchema>> & {
  readonly jobs: Readonly<z.output<typeof ConfigSchema>['jobs']>;
  readonly api: Readonly<z.output<typeof ConfigSchema>['api']>;
  readonly monitor: Readonly<z.output<typeof ConfigSchema>['monitor']>;
  readonly recovery: Readonly<z.output<typeof ConfigSchema>['recovery']>;
};

/** The environment variables the controller reads, and where each goes in the config. */
export const CONFIG_ENV: Readonly<
  Record<string, { path: readonly string[]; type: 'string' | 'number' | 'boolean' }>
> = {
  NINES_DATA_DIR: { path: ['dataDir'], type: 'string' },
  NINES_LISTEN: { path: ['listen'], type: 'string' },
  NINES_LOG_LEVEL: { path: ['logLevel'], type: 'string' },
  NINES_JOBS_MAX_CONCURRENT: { path: ['jobs', 'maxConcurrent'], type: 'number' },
  NINES_SHUTDOWN_GRACE_MS: { path: ['jobs', 'shutdownGraceMs'], type: 'number' },
  NINES_SSE_HEARTBEAT_MS: { path: ['api', 'sseHeartbeatMs'], type: 'number' },
  NINES_API_REQUEST_TIMEOUT_MS: { path: ['api', 'requestTimeoutMs'], type: 'number' },
  NINES_API_HEADERS_TIMEOUT_MS: { path: ['api', 'headersTimeoutMs'], type: 'number' },
  NINES_API_AUTH_FAILURE_LIMIT: { path: ['api', 'authFailureLimit'], type: 'number' },
  NINES_API_AUTH_FAILURE_WINDOW_MS: { path: ['api', 'authFailureWindowMs'], type: 'number' },
  NINES_API_INSECURE_HTTP: { path: ['api', 'insecureHttp'], type: 'boolean' },
  NINES_MONITOR_ENABLED: { path: ['monitor', 'enabled'], type: 'boolean' },
  NINES_MONITOR_INTERVAL_MS: { path: ['monitor', 'intervalMs'], type: 'number' },
  NINES_MONITOR_PROBE_TIMEOUT_MS: { path: ['monitor', 'probeTimeoutMs'], type: 'number' },
  NINES_METRICS_TOKEN: { path: ['monitor', 'metricsToken'], type: 'string' },
  NINES_METRICS_PUBLIC: { path: ['monitor', 'metricsPublic'], type: 'boolean' },
  NINES_RECOVERY_ENABLED: { path: ['recovery', 'enabled'], type: 'boolean' },
  NINES_RECOVERY_COOLDOWN_MS: { path: ['recovery', 'cooldownMs'], type: 'number' },
};

export interface LoadConfigOptions {
  /** Path of the YAML config file (optional; it must exist when given). */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Values from command-line flags (highest precedence). */
  readonly overrides?: {
    readonly dataDir?: string;
    readonly listen?: string;
    readonly insecureHttp?: boolean;
  };
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] ?? ''] = value;
}

function envValue(name: string, raw: string, type: 'string' | 'number' | 'boolean'): unknown {
  if (type === 'string') return raw;
  if (type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) {
      throw new NinesError('NINES_E_CONFIG_INVALID', `${name}: expected a number, got '${raw}'`);
    }
    return n;
  }
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no', ''].includes(raw)) return false;
  throw new NinesError('NINES_E_CONFIG_INVALID', `${name}: expected 1/0/true/false, got '${raw}'`);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NinesError('NINES_E_CONFIG_INVALID', `cannot read config file ${file}`, {
      cause: err,
      context: { file },
    });
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new NinesError(
      'NINES_E_CONFIG_INVALID',
      `${file}:${pos?.line ?? '?'}:${pos?.col ?? '?'}: ${err.message}`,
    );
  }
  const value = doc.toJS() as unknown;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new NinesError('NINES_E_CONFIG_INVALID', `${file}: expected a mapping of settings`);
  }
  return value as Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): ControllerConfig {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = options.file ? readConfigFile(options.file) : {};
  for (const [name, { path, type }] of Object.entries(CONFIG_ENV)) {
    const value = env[name];
    if (value !== undefined) setPath(raw, path, envValue(name, value, type));
  }
  if (options.overrides?.dataDir) raw.dataDir = options.overrides.dataDir;
  if (options.overrides?.listen) raw.listen = options.overrides.listen;
  if (options.overrides?.insecureHttp) setPath(raw, ['api', 'insecureHttp'], true);
  if (raw.dataDir === undefined) raw.dataDir = defaultDataDir(env);
  const hint = options.file
    ? `Fix the key named in the message in ${options.file} or in its NINES_* environment variable.`
    : undefined;
  const config = parseOrThrow(ConfigSchema, raw, 'NINES_E_CONFIG_INVALID', hint ? { hint } : {});
  return deepFreeze(config);
}

/** Splits "host:port" (validated by the schema). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = LISTEN.exec(listen);
  const host = (m?.[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  return { host, port: Number(m?.[2] ?? 0) };
}

/** Loopback = 127.0.0.0/8, ::1 and "localhost"; anything else (0.0.0.0, ::, a name, an interface address) is beyond it. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
