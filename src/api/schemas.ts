// Zod schemas of the API's inputs and outputs (inputs are validated with them; outputs document the OpenAPI).
import { z } from 'zod';
import { CLUSTER_TYPES } from '../core/spec.ts';
import { CLUSTER_STATES } from '../controller/store/inventory-repo.ts';
import { JOB_STATES } from '../controller/store/job-repo.ts';
import { ROLES } from '../controller/store/token-repo.ts';

export const ErrorBody = z
  .object({
    code: z.string().describe('Stable error code (docs/errors.md)'),
    message: z.string(),
    hint: z.string(),
    problems: z
      .array(z.string())
      .optional()
      .describe('Every validation problem as "path: expected X, got Y"'),
  })
  .meta({ id: 'Error' });

const id = z.coerce.number('expected a number').int('expected an integer').min(1, 'expected >= 1');
const limit = z.coerce
  .number('expected a number')
  .int('expected an integer')
  .min(1, 'expected 1-1000')
  .max(1000, 'expected 1-1000');

export const NameParams = z.strictObject({ name: z.string() });
export const IdParams = z.strictObject({ id });

export const ClusterSummary = z
  .object({
    name: z.string(),
    type: z.enum(CLUSTER_TYPES),
    version: z.string(),
    state: z.enum(CLUSTER_STATES),
    nodes: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'ClusterSummary' });

export const NodeBody = z
  .object({
    cluster: z.string(),
    host: z.string(),
    port: z.number().int(),
    role: z.string().nullable(),
    datacenter: z.string(),
    priority: z.number().int(),
    state: z.string(),
    observed: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Node' });

export const JobError = z.object({ code: z.string(), message: z.string(), hint: z.string() });

export const JobBody = z
  .object({
    id: z.number().int(),
    type: z.string(),
    cluster: z.string().nullable(),
    writes: z.boolean(),
    params: z.record(z.string(), z.unknown()),
    state: z.enum(JOB_STATES),
    progress: z.number().int().min(0).max(100),
    currentStep: z.string().nullable(),
    error: JobError.nullable(),
    requestedBy: z.string().nullable(),
    attempts: z.number().int(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'Job' });

export const StepBody = z.object({
  seq: z.number().int(),
  name: z.string(),
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled', 'interrupted']),
  attempt: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  error: JobError.nullable(),
});

export const LogLineBody = z.object({ seq: z.number().int(), time: z.string(), line: z.string() });

export const EventBody = z
  .object({
    id: z.number().int(),
    time: z.string(),
    cluster: z.string().nullable(),
    type: z.string(),
    severity: z.enum(['info', 'warning', 'error', 'critical']),
    message: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });

export const TokenBody = z
  .object({
    id: z.number().int(),
    name: z.string(),
    role: z.enum(ROLES),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'Token' });

export const JobListQuery = z.strictObject({
  cluster: z.string().optional(),
  state: z.enum(JOB_STATES).optional(),
  type: z.string().optional(),
  limit: limit.optional(),
  before: id.optional(),
});

export const EventListQuery = z.strictObject({
  cluster: z.string().optional(),
  type: z.string().optional().describe('Exact type, or a prefix ending in "." such as "job."'),
  since: z.coerce.number('expected a number').int('expected an integer').min(0, 'expected >= 0').optional(),
  limit: limit.optional(),
});

export const LogsQuery = z.strictObject({
  since: z.coerce.number('expected a number').int('expected an integer').min(0, 'expected >= 0').optional(),
  follow: z
    .enum(['0', '1', 'true', 'false'])
    .optional()
    .describe('1: stream as Server-Sent Events until the job ends'),
});

export const SubmitJobBody = z.strictObject({
  type: z.string().min(1, 'expected a job type'),
  cluster: z.string().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
});

/** Control (C0, C1, DEL), format (bidi overrides and isolates U+202A-202E, U+2066-2069, zero-width), line and
 * paragraph separators, surrogates and unassigned code points: none of them belongs in a name shown in logs. */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

/** A token name: 1-100 printable characters, no leading or trailing space. */
export const TokenName = z
  .string('expected a name')
  .min(1, 'expected a name')
  .max(100, 'expected at most 100 characters')
  .superRefine((name, ctx) => {
    const bad = UNPRINTABLE.exec(name);
    if (bad) {
      const cp = (bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
      ctx.addIssue({
        code: 'custom',
        message: `expected printable characters, got U+${cp} at position ${bad.index + 1} (control, format and bidirectional characters are refused)`,
      });
    } else if (name.trim() !== name) {
      ctx.addIssue({ code: 'custom', message: 'expected no leading or trailing space' });
    }
  });

export const CreateTokenBody = z.strictObject({
  name: TokenName,
  role: z.enum(ROLES),
});

export const SpecResponse = z.object({
  valid: z.literal(true),
  spec: z
    .record(z.string(), z.unknown())
    .describe('The normalized spec with defaults applied, credentials as "***"'),
  warnings: z.array(z.string()),
  generated: z.array(z.string()).describe('Credentials that were omitted and will be generated'),
});
