import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  HOST_MOUNTS,
  renderEtcHosts,
  renderHostInit,
  renderKnownHosts,
  renderSshdConfig,
} from '../../../src/lab/host-init.ts';

const params = {
  hostname: 'h2',
  dataDir: "/var/lib/nines/labs/it's/hosts/h2",
  sshdPath: '/usr/sbin/sshd',
  cgroup: { kind: 'v2' as const, relPath: 'nines-lab/x/h2' },
  mysql: { uid: 102, gid: 105 },
  postgres: { uid: 101, gid: 104 },
};

test('host-init: valid sh, joins its cgroup before starting anything, binds every dir, /tmp last', () => {
  const script = renderHostInit(params);
  execFileSync('sh', ['-n'], { input: script }); // syntax check
  const lines = script.split('\n');
  const idx = (re: RegExp): number => lines.findIndex((l) => re.test(l));
  assert.ok(idx(/cgroup\.procs/) < idx(/sshd -D/));
  assert.ok(idx(/^mount -t cgroup2 /) < idx(/cgroup\.procs/) && idx(/cgroup\.procs/) < idx(/^umount/));
  for (const [dir, target] of HOST_MOUNTS) {
    assert.ok(
      lines.includes(`mount --bind '${params.dataDir.replaceAll("'", "'\\''")}/${dir}' ${target}`),
      target,
    );
  }
  const mounts = lines.filter((l) => l.startsWith('mount '));
  assert.match(mounts.at(-1) ?? '', / \/tmp$/, '/tmp is bound last');
  assert.ok(idx(/^mount -t tmpfs .* \/run$/) < idx(/^mkdir -p \/run\/mysqld$/));
  assert.ok(lines.includes('chown 102:105 /run/mysqld'));
  assert.ok(lines.includes('chown 101:104 /run/postgresql'));
  assert.ok(lines.includes('chmod 2775 /run/postgresql'));
  assert.match(script, /while true; do wait; sleep 1; done/);
  assert.match(script, /^hostname h2$/m);
});

test('host-init without cgroup or database users renders no chown and no cgroup mount', () => {
  const { hostname, dataDir, sshdPath } = params;
  const script = renderHostInit({ hostname, dataDir, sshdPath });
  assert.doesNotMatch(script, /chown|cgroup/);
});

test('sshd_config: listens on the host address only, keys only, root allowed', () => {
  const cfg = renderSshdConfig('10.77.1.11').split('\n');
  for (const line of [
    'ListenAddress 10.77.1.11:22',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'UseDNS no',
    'PidFile /run/sshd.pid',
    'UsePAM yes',
  ]) {
    assert.ok(cfg.includes(line), line);
  }
  assert.ok(!cfg.some((l) => l.startsWith('UsePrivilegeSeparation')));
});

test('/etc/hosts and known_hosts', () => {
  const hosts = [
    { name: 'h1', address: '10.77.1.11', hostKeyPublic: 'ssh-ed25519 AAAA1 lab-h1' },
    { name: 'h2', address: '10.77.1.12', hostKeyPublic: 'ssh-ed25519 AAAA2 lab-h2\n' },
  ];
  assert.equal(
    renderEtcHosts(hosts),
    '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n10.77.1.11 h1\n10.77.1.12 h2\n',
  );
  assert.equal(renderKnownHosts(hosts), '10.77.1.11 ssh-ed25519 AAAA1\n10.77.1.12 ssh-ed25519 AAAA2\n');
});
