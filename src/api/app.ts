// The HTTP API (Fastify 5): routes from the route table, bearer-token auth, zod validation, errors as
// {code, message, hint}, request ids (x-request-id) and one log line per request.
import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { z } from 'zod';
import { NinesError, toNinesError } from '../core/errors.ts';
import { parseOrThrow } from '../core/validation.ts';
import type { Controller } from '../controller/controller.ts';
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

function fromFastifyError(err: FastifyError): { status: number; error: NinesError } {
  if (err instanceof NinesError) return { status: err.status, error: err };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, error: new NinesError('NINES_E_INVALID_ARGUMENT', err.message) };
  }
  const e = toNinesError(err);
  return { status: e.status, error: e };
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
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const principal = authenticate(req, controller.store.tokens, route.role);
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
}

export function buildApp(controller: Controller, options: BuildAppOptions = {}): FastifyInstance {
  // Typed as the default instance: our pino Logger is a FastifyBaseLogger, but Fastify's generics disagree.
  const app = Fastify({
    loggerInstance: controller.logger,
    // One line per request from our onResponse hook instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: controller.config.api.bodyLimitBytes,
    exposeHeadRoutes: false,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  const routes: { method: string; url: string }[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) routes.push({ method: m, url: r.url });
  });
  for (const type of ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  }
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    // req.log already carries reqId.
    req.log.info(
      {
        method: req.method,
        url: req.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
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
  const all = [...ROUTES, ...(options.routes ?? [])];
  for (const route of [...all, openApiRoute(all, VERSION)]) register(app, controller, route);
  return app;
}
