// The CLI's HTTP client for the controller API: finds the controller (--url / NINES_URL / default) and the token
// (--token / NINES_TOKEN / admin.token in the data directory), turns API errors back into NinesErrors with their
// code, and reads Server-Sent Events streams.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ERRORS, NinesError, isNinesError, type ErrorCode } from '../core/errors.ts';
import { ADMIN_TOKEN_FILE, defaultDataDir } from '../controller/paths.ts';
import { httpsFetch, knownControllersFile, type TlsTrust } from './controller-tls.ts';
import { EXIT, UsageError, reportError } from './output.ts';
import type { CommandGroup } from './main.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8456';

export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export const CONNECTION_HELP = `Connection options:
  --url URL      controller API (default $NINES_URL or ${DEFAULT_URL})
  --token TOKEN  API token (default $NINES_TOKEN, else admin.token in the data directory)
  --ca FILE      for https URLs: verify the controller against this CA (default $NINES_CA); without it the
                 certificate is pinned on first use in ${'$'}{XDG_CONFIG_HOME:-~/.config}/nines/known_controllers
  --json         machine-readable output`;

/** parseArgs with unknown flags and missing values reported as usage errors. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export interface ApiClientOptions {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  /** PEM CA file for an https URL (default $NINES_CA); without one the certificate is pinned on first use. */
  readonly ca?: string | undefined;
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new NinesError('NINES_E_INVALID_ARGUMENT', `--ca ${file}: ${(err as Error).message}`, {
      hint: 'Pass the PEM file of the CA that signed the controller certificate.',
      cause: err,
    });
  }
}

function readAdminToken(): string | undefined {
  const dir = process.env.NINES_DATA_DIR ?? defaultDataDir();
  try {
    return readFileSync(join(dir, ADMIN_TOKEN_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function remoteError(status: number, body: unknown): NinesError {
  const b = (body ?? {}) as { code?: string; message?: string; hint?: string; problems?: string[] };
  const code: ErrorCode = b.code && b.code in ERRORS ? (b.code as ErrorCode) : 'NINES_E_INTERNAL';
  const err = new NinesError(code, undefined, {
    ...(b.hint ? { hint: b.hint } : {}),
    context: { status, ...(b.problems ? { problems: b.problems } : {}) },
  });
  Object.defineProperty(err, 'message', { value: b.message ?? `HTTP ${status}` });
  return err;
}

export class ApiClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly caFile: string | undefined;

  constructor(options: ApiClientOptions = {}) {
    this.url = (options.url ?? process.env.NINES_URL ?? DEFAULT_URL).replace(/\/+$/, '');
    this.token = options.token ?? process.env.NINES_TOKEN ?? readAdminToken();
    this.caFile = options.ca ?? (process.env.NINES_CA || undefined);
  }

  private trust(): TlsTrust {
    return {
      ...(this.caFile ? { ca: readCa(this.caFile) } : {}),
      knownControllers: knownControllersFile(),
    };
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    const target = `${this.url}/api/v1${path}`;
    try {
      if (target.startsWith('https:')) {
        return await httpsFetch(
          new URL(target),
          {
            ...(init.method ? { method: init.method } : {}),
            headers: (init.headers ?? {}) as Record<string, string>,
            ...(typeof init.body === 'string' ? { body: init.body } : {}),
            ...(init.signal ? { signal: init.signal } : {}),
          },
          this.trust(),
        );
      }
      return await fetch(target, init);
    } catch (err) {
      if (isNinesError(err)) throw err;
      throw new NinesError('NINES_E_CONTROLLER_UNREACHABLE', this.url, {
        cause: err,
        context: { url: this.url },
      });
    }
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    const init: RequestInit = {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': contentType }),
    };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await this.fetch(path, init);
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw remoteError(res.status, parsed);
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /**
   * Reads an SSE stream, yielding {id, event, data}. Ends when the server closes the stream or signal aborts.
   */
  async *stream(
    path: string,
    options: { readonly lastEventId?: string; readonly signal?: AbortSignal } = {},
  ): AsyncGenerator<{ id?: string; event: string; data: unknown }> {
    const headers = this.headers({
      accept: 'text/event-stream',
      ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}),
    });
    const res = await this.fetch(path, { headers, ...(options.signal ? { signal: options.signal } : {}) });
    if (!res.ok) throw remoteError(res.status, await res.json().catch(() => undefined));
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (frame) yield frame;
      }
    }
  }
}

/** One SSE frame -> {id, event, data}; comments and retry-only frames give undefined. */
export function parseFrame(frame: string): { id?: string; event: string; data: unknown } | undefined {
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  return { ...(id !== undefined ? { id } : {}), event, data: JSON.parse(data.join('\n')) as unknown };
}

/** Runs a command body; errors print the standard way, auth errors exit with EXIT.AUTH. */
export async function runCommand(json: boolean, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    const code = reportError(err, json);
    if (isNinesError(err) && /^NINES_E_AUTH_/.test(err.code)) return EXIT.AUTH;
    return code;
  }
}

type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** What an API command's handler gets: its parsed flags (connection flags included), a client, --json. */
export interface ApiCommand<O extends CommandOptions> {
  readonly values: ReturnType<typeof parseCommand<typeof CONNECTION_OPTIONS & O>>['values'];
  readonly positionals: string[];
  readonly client: ApiClient;
  readonly json: boolean;
}

/**
 * A command group that talks to the controller: parses its flags plus the connection flags (usage errors for
 * unknown ones), answers --help, builds the API client, and reports errors with the shared exit codes.
 */
export function apiGroup<O extends CommandOptions>(def: {
  readonly summary: string;
  readonly help: string;
  readonly options: O;
  run(command: ApiCommand<O>): Promise<number>;
}): CommandGroup {
  return {
    summary: def.summary,
    help: def.help,
    run: (args) => {
      const json = args.includes('--json');
      return runCommand(json, async () => {
        const { values, positionals } = parseCommand(args, { ...CONNECTION_OPTIONS, ...def.options });
        const common = values as { help?: boolean; url?: string; token?: string; ca?: string };
        if (common.help) {
          console.log(def.help);
          return EXIT.OK;
        }
        const client = new ApiClient({ url: common.url, token: common.token, ca: common.ca });
        return def.run({ values, positionals, client, json });
      });
    },
  };
}
