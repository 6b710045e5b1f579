// Routes of the failover drill: start one (queues drill.failover) and read its report.
import { z } from 'zod';
import { DrillParams } from '../controller/drill/index.ts';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';
import * as S from './schemas.ts';

const p = (path: string): string => `${API_PREFIX}${path}`;
const who = (t: TokenRecord | undefined): string | undefined => (t ? `${t.name} (token ${t.id})` : undefined);

const DrillBody = DrillParams.meta({ id: 'DrillParams' });

export const DRILL_ROUTES: readonly AnyRoute[] = [
  defineRoute({
    method: 'POST',
    path: p('/clusters/:name/drill'),
    summary:
      "Failover drill (lab clusters only): a write workload through the endpoint, the fault on the primary's host, RTO, lost writes and writable nodes measured; returns the job",
    tag: 'drill',
    role: 'operator',
    params: S.NameParams,
    body: DrillBody,
    status: 202,
    response: z.object({ job: S.JobBody }),
    handler: ({ controller, params, body, principal }) => ({
      job: controller.drill(params.name, body, who(principal)),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: p('/clusters/:name/drill/:id'),
    summary: 'A drill job and its report (null until the job finished)',
    tag: 'drill',
    role: 'viewer',
    params: z.strictObject({ name: z.string(), id: S.IdParams.shape.id }),
    response: z.object({ job: S.JobBody, report: z.record(z.string(), z.unknown()).nullable() }),
    handler: ({ controller, params }) => controller.drillReport(params.name, params.id),
  }),
];
