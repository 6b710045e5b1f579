// nines key add NAME --file PATH [--replace] | nines key list | nines key show NAME | nines key remove NAME
import { readFileSync } from 'node:fs';
import { NinesError } from '../../core/errors.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson, printTable } from '../output.ts';
import type { ApiClient } from '../client.ts';
import { CONNECTION_HELP, apiGroup } from '../client.ts';

const help = `Usage: nines key add NAME --file PATH [--replace]
       nines key list
       nines key show NAME
       nines key remove NAME

SSH private keys registered with the controller. A cluster spec names one with "ssh: {key: NAME}"; the
controller logs in to the cluster's hosts with it. The key is stored encrypted and never shown again: list and
show print its type, SHA256 fingerprint, public key and the clusters that use it.

  add     read the private key from PATH on this machine ("-" = standard input) and send its content to the
          controller (an unencrypted OpenSSH or PEM key; decrypt a passphrase-protected key first with
          ssh-keygen -p on a copy). Adding the same key again under the same name changes nothing; other content
          under a taken name needs --replace (key rotation: every cluster using the name logs in with the new key).
  remove  forget a key; refused while a cluster uses it (the error names the clusters)

Options:
  -f, --file PATH  the private key file (add)
  --replace        replace the key registered under NAME (add)

${CONNECTION_HELP}`;

interface KeyView extends Record<string, unknown> {
  name: string;
  type: string;
  fingerprint: string;
  publicKey: string;
  createdAt: string;
  usedBy: string[];
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new NinesError(
      'NINES_E_INVALID_ARGUMENT',
      `--file ${path}: cannot read it on this machine (${reason})`,
      {
        cause: err,
        hint: 'Give the path of a readable private key file, e.g. --file ~/.ssh/id_ed25519.',
      },
    );
  }
}

async function add(
  client: ApiClient,
  name: string,
  file: string | undefined,
  replace: boolean,
  json: boolean,
): Promise<number> {
  if (!file) throw new UsageError('key add needs --file PATH');
  const res = await client.request<{ key: KeyView; action: string }>('POST', '/keys', {
    name,
    privateKey: readKeyFile(file),
    ...(replace ? { replace: true } : {}),
  });
  if (json) printJson(res);
  else console.log(`key ${res.key.name} ${res.action}: ${res.key.type} ${res.key.fingerprint}`);
  return EXIT.OK;
}

function show(k: KeyView): void {
  console.log(`name:        ${k.name}
type:        ${k.type}
fingerprint: ${k.fingerprint}
created:     ${k.createdAt}
used by:     ${k.usedBy.length > 0 ? k.usedBy.join(', ') : '-'}
public key:  ${k.publicKey}`);
}

export const group: CommandGroup = apiGroup({
  summary: 'SSH keys registered with the controller (specs name them with ssh.key)',
  help,
  options: {
    file: { type: 'string', short: 'f' },
    replace: { type: 'boolean', default: false },
  },
  run: async ({ values, positionals, client, json }) => {
    const [sub, name] = positionals;
    const needName = (): string => {
      if (!name) throw new UsageError(`key ${sub ?? ''} needs NAME`);
      return name;
    };
    const path = (): string => `/keys/${encodeURIComponent(needName())}`;
    switch (sub ?? '') {
      case 'add':
        return add(client, needName(), values.file, values.replace, json);
      case 'list': {
        const res = await client.get<{ keys: KeyView[] }>('/keys');
        if (json) printJson(res);
        else
          printTable(
            res.keys.map((k) => ({
              name: k.name,
              type: k.type,
              fingerprint: k.fingerprint,
              created: k.createdAt,
              'used by': k.usedBy.length > 0 ? k.usedBy.join(',') : '-',
            })),
          );
        return EXIT.OK;
      }
      case 'show': {
        const res = await client.get<{ key: KeyView }>(path());
        if (json) printJson(res);
        else show(res.key);
        return EXIT.OK;
      }
      case 'remove': {
        const res = await client.request<{ key: KeyView }>('DELETE', path());
        if (json) printJson(res);
        else console.log(`key ${res.key.name} removed (${res.key.fingerprint})`);
        return EXIT.OK;
      }
      default:
        throw new UsageError(`unknown subcommand 'key ${sub ?? ''}' (add, list, show, remove)`);
    }
  },
});
