// The OpenAPI 3.1 document, generated from the route table: one entry per route, schemas from zod.
import { z } from 'zod';
import { ERRORS } from '../core/errors.ts';
import { specJsonSchema } from '../core/spec.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';
import { ErrorBody } from './schemas.ts';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): Json {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function parameters(route: AnyRoute): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const js = jsonSchema(schema);
    const props = (js.properties ?? {}) as Record<string, Json>;
    const required = new Set((js.required ?? []) as string[]);
    for (const [name, s] of Object.entries(props)) {
      out.push({ name, in: where, required: where === 'path' || required.has(name), schema: s });
    }
  }
  return out;
}

function operation(route: AnyRoute): Json {
  const status = String(route.status ?? 200);
  const content: Json = route.response ? { 'application/json': { schema: jsonSchema(route.response) } } : {};
  if (route.sse) content['text/event-stream'] = { schema: { type: 'string' } };
  const errorRef = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  return {
    operationId: `${route.method.toLowerCase()}${route.path
      .slice(API_PREFIX.length)
      .replace(/[/:.]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
    summary: route.summary,
    tags: [route.tag],
    'x-nines-role': route.role,
    security: route.role === 'public' ? [] : [{ bearer: [] }],
    parameters: parameters(route),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: jsonSchema(route.body) },
              ...(route.validateBody === false ? { 'application/yaml': { schema: { type: 'string' } } } : {}),
            },
          },
        }
      : {}),
    responses: {
      [status]: { description: 'Success', content },
      ...(route.role === 'public'
        ? {}
        : {
            '401': { description: 'Token missing or invalid', content: errorRef },
            '403': { description: `Needs role ${route.role}`, content: errorRef },
          }),
      default: { description: 'Error ({code, message, hint}; see docs/errors.md)', content: errorRef },
    },
  };
}

export function openApiDocument(routes: readonly AnyRoute[], version: string): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'nines controller API',
      version,
      description:
        'Errors are {code, message, hint}; codes: ' + Object.keys(ERRORS).length + ' (docs/errors.md).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(ErrorBody), ClusterSpec: specJsonSchema() },
    },
  };
}

/** The route serving the document itself (part of the table, so it documents itself too). */
export function openApiRoute(routes: readonly AnyRoute[], version: string): AnyRoute {
  let cached: Json | undefined;
  const route: AnyRoute = defineRoute({
    method: 'GET',
    path: `${API_PREFIX}/openapi.json`,
    summary: 'This OpenAPI 3.1 document',
    tag: 'system',
    role: 'public',
    handler: (): Json => (cached ??= openApiDocument([...routes, route], version)),
  });
  return route;
}
