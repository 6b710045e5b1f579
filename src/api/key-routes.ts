// /api/v1/keys: SSH keys registered with the controller. The private key comes in as text (the CLI reads the
// file on the user's machine) and never goes out: responses show name, type, SHA256 fingerprint, public key and
// the clusters that use it. Adding and removing keys is for admins.
import { z } from 'zod';
import { sshKeyName } from '../core/spec.ts';
import { MAX_PRIVATE_KEY_BYTES } from '../hosts/ssh-key.ts';
import type { TokenRecord } from '../controller/store/token-repo.ts';
import { API_PREFIX, defineRoute, type AnyRoute } from './route-table.ts';

const p = (path: string): string => `${API_PREFIX}${path}`;
const who = (t: TokenRecord | undefined): string | undefined => (t ? `${t.name} (token ${t.id})` : undefined);

const KeyBody = z
  .object({
    name: z.string(),
    type: z.string(),
    fingerprint: z.string().describe('SHA256:... of the public key, as ssh-keygen -l prints it'),
    publicKey: z.string().describe('The public key (authorized_keys format)'),
    createdAt: z.string(),
    updatedAt: z.string(),
    usedBy: z.array(z.string()).describe('Clusters (and pending deploys) whose spec names this key'),
  })
  .describe('A registered SSH key (the private key is never returned)');

const KeyParams = z.strictObject({ name: sshKeyName() });

const AddKeyBody = z.strictObject({
  name: sshKeyName(),
  privateKey: z
    .string('expected the private key text (OpenSSH or PEM)')
    .min(1, 'expected the private key text (OpenSSH or PEM)')
    .max(MAX_PRIVATE_KEY_BYTES, `expected at most ${MAX_PRIVATE_KEY_BYTES} characters`),
  replace: z.boolean('expected true or false').optional(),
});

export const KEY_ROUTES: readonly AnyRoute[] = [
  defineRoute({
    method: 'GET',
    path: p('/keys'),
    summary: 'List registered SSH keys (never the private keys)',
    tag: 'keys',
    role: 'viewer',
    response: z.object({ keys: z.array(KeyBody) }),
    handler: ({ controller }) => ({ keys: controller.keys.list() }),
  }),
  defineRoute({
    method: 'GET',
    path: p('/keys/:name'),
    summary: 'Show a registered SSH key (never the private key)',
    tag: 'keys',
    role: 'viewer',
    params: KeyParams,
    response: z.object({ key: KeyBody }),
    handler: ({ controller, params }) => ({ key: controller.keys.get(params.name) }),
  }),
  defineRoute({
    method: 'POST',
    path: p('/keys'),
    summary:
      'Register an SSH private key under a name (the same key again: unchanged; other content: needs replace)',
    tag: 'keys',
    role: 'admin',
    body: AddKeyBody,
    status: 201,
    response: z.object({ key: KeyBody, action: z.enum(['added', 'replaced', 'unchanged']) }),
    handler: ({ controller, body, principal }) =>
      controller.keys.add(body.name, body.privateKey, body.replace === true, who(principal)),
  }),
  defineRoute({
    method: 'DELETE',
    path: p('/keys/:name'),
    summary: 'Remove a registered SSH key (refused while a cluster uses it)',
    tag: 'keys',
    role: 'admin',
    params: KeyParams,
    response: z.object({ key: KeyBody }),
    handler: ({ controller, params, principal }) => ({
      key: controller.keys.remove(params.name, who(principal)),
    }),
  }),
];
