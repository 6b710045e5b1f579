// The HTTP API (Fastify 5): routes from the route table, bearer-token auth, zod validation, errors as
// {code, message, hint}, request ids (x-request-id) and one log line per request (with the client address).
// Limits (docs/api.md): the token is checked in onRequest, before any body is read, and a wrong one closes the
// connection; wrong tokens are rate-limited per address; request, header, idle and keep-alive timeouts, body,
// header and path-parameter sizes are bounded; errors Node or Fastify answer themselves (431, 408, bad URL,
// 414) get the same {code, message, hint} shape.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { z } from 'zod';
import { AuthLimiter } from '../core/auth-limiter.ts';
import { NinesError, toNinesError, type ErrorCode } from '../core/errors.ts';
import { parseOrThrow } from '../core/validation.ts';
import type { Controller } from '../controller/controller.ts';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import { authenticate } from './auth.ts';
import { openApiRoute } from './openapi.ts';
import type { AnyRoute } from './route-table.ts';
import { ROUTES, VERSION } from './routes.ts';

const registered = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** The routes Fastify actually registered (method + url), for tests and diagnostics. */
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return registered.get(app) ?? [];
}

export function errorBody(err: NinesError): Record<string, unknown> {
  const problems = err.context.problems;
  return { ...err.toJSON(), ...(Array.isArray(problems) ? { problems } : {}) };
}

/** Fastify's own error codes -> ours (the status comes from our registry). */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'NINES_E_REQUEST_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'NINES_E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'NINES_E_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'NINES_E_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'NINES_E_BAD_REQUEST',
  FST_ERR_BAD_URL: 'NINES_E_BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'NINES_E_URI_TOO_LONG',
};

function fromFastifyError(err: FastifyError): { status: number; error: NinesError } {
  if (err instanceof NinesError) return { status: err.status, error: err };
  const mapped = FASTIFY_CODES[err.code];
  if (mapped) {
    const detail = err.message.length > 200 ? `${err.message.slice(0, 200)}...` : err.message;
    const error = new NinesError(mapped, detail, { cause: err });
    return { status: error.status, error };
  }
  if (err instanceof SyntaxError && err.statusCode === 400) {
    return { status: 400, error: new NinesError('NINES_E_BAD_REQUEST', `body: ${err.message}`) };
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, error: new NinesError('NINES_E_INVALID_ARGUMENT', err.message) };
  }
  const e = toNinesError(err);
  return { status: e.status, error: e };
}

/** Errors Node's HTTP parser reports before a request exists (no Fastify reply): a JSON answer on the socket. */
function clientErrorResponse(err: NodeJS.ErrnoException): NinesError {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new NinesError('NINES_E_REQUEST_TIMEOUT');
  if (err.code === 'HPE_HEADER_OVERFLOW') return new NinesError('NINES_E_HEADERS_TOO_LARGE');
  return new NinesError('NINES_E_BAD_REQUEST', err.code ?? err.message);
}

function onClientError(app: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error = clientErrorResponse(err);
  const s = socket as Duplex & { remoteAddress?: string; _httpMessage?: { headersSent?: boolean } };
  app.log.info({ ip: s.remoteAddress, code: error.code, cause: err.code }, error.message);
  // Like Node's own handler: never write into a response that has already started.
  if (socket.writable && !s._httpMessage?.headersSent) {
    const body = JSON.stringify(error.toJSON());
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const principals = new WeakMap<FastifyRequest, TokenRecord>();

interface RouteConfig {
  readonly role?: AnyRoute['role'];
}

function input<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  return schema
    ? parseOrThrow(schema, value ?? {}, 'NINES_E_INVALID_ARGUMENT', { prefix: [where] })
    : (value as T);
}

function register(app: FastifyInstance, controller: Controller, route: AnyRoute): void {
  app.route({
    method: route.method,
    url: route.path,
    config: { role: route.role } satisfies RouteConfig,
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const principal = principals.get(req);
      const params = input(route.params, req.params, 'params');
      const query = input(route.query, req.query, 'query');
      const body = route.validateBody === false ? req.body : input(route.body, req.body, 'body');
      const result = await route.handler({ controller, params, query, body, principal, req, reply });
      if (reply.sent) return reply;
      return reply.code(route.status ?? 200).send(result);
    },
  });
}

export interface BuildAppOptions {
  /** Extra routes (declared like the built-in ones; they appear in the OpenAPI document too). */
  readonly routes?: readonly AnyRoute[];
  /** Serve HTTPS with this PEM key and certificate. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /** Clock of the wrong-token limiter (tests). */
  readonly now?: () => number;
}

/** Checks the token before any body is read; wrong tokens are counted per client address. */
function authHook(app: FastifyInstance, controller: Controller, options: BuildAppOptions): void {
  const cfg = controller.config.api;
  const limiter = new AuthLimiter({ limit: cfg.authFailureLimit, windowMs: cfg.authFailureWindowMs });
  const now = options.now ?? Date.now;
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const role = (req.routeOptions.config as RouteConfig | undefined)?.role;
    if (role === undefined) {
      // No such route: answered now, the body is never read (it could only hold the socket).
      reply.header('connection', 'close');
      throw new NinesError('NINES_E_NOT_FOUND', `${req.method} ${req.url.split('?')[0]}`);
    }
    if (role === 'public') return;
    const verdict = limiter.check(req.ip, now());
    if (!verdict.allowed) {
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      // The body is never read: close the connection after the answer instead of draining it.
      reply.header('retry-after', String(seconds)).header('connection', 'close');
      throw new NinesError('NINES_E_AUTH_RATE_LIMITED', `${req.ip}: retry in ${seconds} s`, {
        context: { address: req.ip, retryAfterSeconds: seconds },
      });
    }
    try {
      const principal = authenticate(req, controller.store.tokens, role);
      if (principal) principals.set(req, principal);
    } catch (err) {
      reply.header('connection', 'close');
      if (err instanceof NinesError && err.code === 'NINES_E_AUTH_INVALID' && limiter.fail(req.ip, now())) {
        const message = `API client ${req.ip} locked out after ${cfg.authFailureLimit} wrong tokens`;
        req.log.warn({ ip: req.ip }, message);
        controller.events.emit({
          type: 'auth.locked-out',
          severity: 'warning',
          message,
          data: { address: req.ip, limit: cfg.authFailureLimit, windowMs: cfg.authFailureWindowMs },
        });
      }
      throw err;
    }
  });
}

function errorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { status, error } = fromFastifyError(err);
    if (status >= 500) req.log.error({ err, reqId: req.id }, error.message);
    else req.log.debug({ code: error.code, reqId: req.id }, error.message);
    return reply.code(status).send(errorBody(error));
  });
  app.setNotFoundHandler((req, reply) => {
    const error = new NinesError('NINES_E_NOT_FOUND', `${req.method} ${req.url.split('?')[0]}`);
    return reply.code(error.status).send(errorBody(error));
  });
}

export function buildApp(controller: Controller, options: BuildAppOptions = {}): FastifyInstance {
  const cfg = controller.config.api;
  const server = {
    maxHeaderSize: cfg.maxHeaderBytes,
    headersTimeout: cfg.headersTimeoutMs,
    // How often Node checks the request and header timeouts (its default, 30 s, would stretch them).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(cfg.headersTimeoutMs / 4))),
  };
  // Typed as the default instance: our pino Logger is a FastifyBaseLogger, but Fastify's generics disagree.
  const app: FastifyInstance = Fastify({
    loggerInstance: controller.logger,
    // One line per request from our onResponse hook instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: cfg.bodyLimitBytes,
    routerOptions: { maxParamLength: cfg.maxParamLength },
    requestTimeout: cfg.requestTimeoutMs,
    connectionTimeout: cfg.idleTimeoutMs,
    keepAliveTimeout: cfg.keepAliveTimeoutMs,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    ...(options.tls
      ? { https: { ...server, key: options.tls.key, cert: options.tls.cert } }
      : { http: server }),
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(app, err, socket),
    frameworkErrors: (err, _req, reply) => {
      const { status, error } = fromFastifyError(err);
      void (reply as unknown as FastifyReply).code(status).send(errorBody(error));
    },
  }) as unknown as FastifyInstance;
  const routes: { method: string; url: string }[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) routes.push({ method: m, url: r.url });
  });
  for (const type of ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  }
  authHook(app, controller, options);
  app.addHook('onResponse', async (req, reply) => {
    // req.log already carries reqId.
    req.log.info(
      {
        method: req.method,
        url: req.url,
        ip: req.ip,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  errorHandlers(app);
  const all = [...ROUTES, ...(options.routes ?? [])];
  for (const route of [...all, openApiRoute(all, VERSION)]) register(app, controller, route);
  return app;
}
