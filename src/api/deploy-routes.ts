// Routes of the deploy jobs: import a running cluster, add and remove nodes. (Creating a cluster, and
// retrying a failed deploy, is POST /clusters in routes.ts.)
import { z } from 'zod';
import { SpecInputSchema } from '../core/spec.ts';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';
import * as S from './schemas.ts';

const p = (path: string): string => `${API_PREFIX}${path}`;
const who = (t: TokenRecord | undefined): string | undefined => (t ? `${t.name} (token ${t.id})` : undefined);
const specBody = z.union([SpecInputSchema, z.string().describe('The spec as YAML or JSON text')]);

const NodeAddBody = z
  .strictObject({
    host: z.string().min(1).describe('Address of the new node (SSH and database)'),
    port: z.number().int().min(1).max(65535).optional().describe('Database port (default of the type)'),
    datacenter: z.string().optional(),
    priority: z.number().int().min(0).max(1000).optional(),
  })
  .meta({ id: 'NodeAdd' });

const NodeRemoveQuery = z.strictObject({
  port: z.coerce.number('expected a port').int().min(1).max(65535).optional(),
  force: z
    .enum(['0', '1', 'true', 'false'])
    .optional()
    .describe('Allow removing the primary or breaking quorum'),
});

export const DEPLOY_ROUTES: readonly AnyRoute[] = [
  defineRoute({
    method: 'POST',
    path: p('/clusters/import'),
    summary:
      'Import a running cluster from a spec (JSON or YAML): discovers its topology without changing anything; returns the job',
    tag: 'clusters',
    role: 'operator',
    body: specBody,
    validateBody: false,
    status: 202,
    response: z.object({ job: S.JobBody, warnings: z.array(z.string()), generated: z.array(z.string()) }),
    handler: ({ controller, body, principal }) => controller.importCluster(body, who(principal)),
  }),
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/nodes'),
    summary: 'Add a node to a running cluster (queues node.add); the endpoint follows',
    tag: 'nodes',
    role: 'operator',
    params: S.NameParams,
    body: NodeAddBody,
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, body, principal }) => ({
      job: controller.addNode(params.name, body, who(principal)),
    }),
  }),
  defineRoute({
    method: 'DELETE',
    path: p('/clusters/:name/nodes/:host'),
    summary:
      'Remove a node (queues node.remove); removing the primary or breaking quorum needs ?force=1; the endpoint follows',
    tag: 'nodes',
    role: 'operator',
    params: z.strictObject({ name: z.string(), host: z.string() }),
    query: NodeRemoveQuery,
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, query, principal }) => ({
      job: controller.removeNode(
        params.name,
        {
          host: params.host,
          ...(query.port !== undefined ? { port: query.port } : {}),
          force: query.force === '1' || query.force === 'true',
        },
        who(principal),
      ),
    }),
  }),
];
