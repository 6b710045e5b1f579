// Every API route is declared once, here-shaped: method, path, role, input and output schemas, handler.
// Fastify registration (app.ts) and the OpenAPI document (openapi.ts) are both generated from these entries.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Controller } from '../controller/controller.ts';
import type { Role, TokenRecord } from '../controller/store/token-repo.ts';

export interface HandlerInput<P, Q, B> {
  readonly controller: Controller;
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** The token's record; undefined on public routes. */
  readonly principal: TokenRecord | undefined;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Fastify syntax (`/api/v1/clusters/:name`). */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /** Least role allowed (admin > operator > viewer), or public (no token). */
  readonly role: Role | 'public';
  readonly params?: z.ZodType<P>;
  readonly query?: z.ZodType<Q>;
  readonly body?: z.ZodType<B>;
  /** When false the body schema only documents the route (the handler validates, e.g. specs given as YAML). */
  readonly validateBody?: boolean;
  /** Success status (default 200). */
  readonly status?: number;
  readonly response?: z.ZodType;
  /** The route answers with a Server-Sent Events stream (text/event-stream). */
  readonly sse?: boolean;
  handler(input: HandlerInput<P, Q, B>): unknown;
}

export type AnyRoute = RouteDef<unknown, unknown, unknown>;

/** Keeps the types of one route's schemas and handler together, then erases them for the table. */
export function defineRoute<P, Q, B>(def: RouteDef<P, Q, B>): AnyRoute {
  return def;
}

export const API_PREFIX = '/api/v1';
