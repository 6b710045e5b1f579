// Clusters stored by earlier versions named files on the controller (ssh.keyFile, ssh.knownHostsFile): the
// controller's start registers the key once, copies the pinned host keys, and the spec then names the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { knownHostsPath } from '../../../src/controller/cluster-hosts.ts';
import { validateSpec } from '../../../src/core/spec.ts';
import { openTemp, specFor, tempDir } from './helpers.ts';
import { usableEd25519Key } from '../../support/test-key.ts';

const HOST_LINE = '10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

test('a stored spec with ssh.keyFile/knownHostsFile is upgraded at start: key registered, host keys copied', async () => {
  const dir = tempDir();
  const keyFile = join(dir, 'id_old');
  const privateKey = usableEd25519Key();
  writeFileSync(keyFile, privateKey, { mode: 0o600 });
  const knownHosts = join(dir, 'old_known_hosts');
  writeFileSync(knownHosts, `# comment\n${HOST_LINE}\nnot a known_hosts line\n`);
  const first = openTemp({ dir, start: false });
  const legacy = (name: string, ssh: Record<string, unknown>): void => {
    first.controller.store.inventory.createCluster(validateSpec(specFor(name, first.key)).spec, 'healthy');
    const row = first.controller.store.db.get<{ spec_json: string }>(
      'SELECT spec_json FROM clusters WHERE name = ?',
      name,
    );
    const spec = JSON.parse(row?.spec_json ?? '{}') as Record<string, unknown>;
    first.controller.store.db.run(
      'UPDATE clusters SET spec_json = ? WHERE name = ?',
      JSON.stringify({ ...spec, ssh }),
      name,
    );
  };
  legacy('old-one', { user: 'root', port: 22, keyFile, knownHostsFile: knownHosts });
  legacy('old-two', { user: 'root', port: 2222, keyFile: '/nonexistent/id_rsa' });
  await first.controller.close(0);

  const t = openTemp({ dir, start: false });
  try {
    const inv = t.controller.store.inventory;
    assert.deepEqual(inv.getCluster('old-one')?.spec.ssh, { user: 'root', port: 22, key: 'legacy-old-one' });
    assert.equal(t.controller.store.keys.privateKey('legacy-old-one'), privateKey);
    assert.equal(readFileSync(knownHostsPath(join(dir, 'data'), 'old-one'), 'utf8'), `${HOST_LINE}\n`);
    assert.equal(inv.credentials('old-one').admin !== undefined, true, 'credentials kept');
    // An unusable key file: the spec names a key to register; the event does not say why (no file oracle).
    assert.deepEqual(inv.getCluster('old-two')?.spec.ssh, {
      user: 'root',
      port: 2222,
      key: 'legacy-old-two',
    });
    assert.equal(t.controller.store.keys.has('legacy-old-two'), false);
    const event = t.controller.store.events
      .list({ cluster: 'old-two' })
      .find((e) => e.type === 'cluster.updated');
    assert.match(event?.message ?? '', /nines key add legacy-old-two --file PATH/);
    assert.ok(!/ENOENT|nonexistent/.test(event?.message ?? ''), event?.message);
  } finally {
    await t.close();
  }
});
