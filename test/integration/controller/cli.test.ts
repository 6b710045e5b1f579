// The nines CLI end to end against a real controller process (random port, temp data directory). Node
// "hosts" are 127.0.0.1 with ssh.port pointing at a TCP listener of this test, which the placeholder
// connectivity probe reaches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAIN, SCALE, api, poll, startController, tempDir, type ControllerProcess } from './helpers.ts';
import { usableEd25519Key } from '../../support/test-key.ts';

const run = promisify(execFile);
let ctl: ControllerProcess;
let sshLike: Server;
let dir: string;
let specFile: string;

async function nines(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN, ...args],
      {
        env: { ...process.env, NINES_URL: ctl.url, NINES_TOKEN: ctl.token, ...env },
        timeout: 30_000 * SCALE,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function spec(name: string, sshPort: number, extra = ''): string {
  return `name: ${name}
type: postgres-streaming
nodes:
  - host: 127.0.0.1
    port: 5432
    role: primary
  - host: 127.0.0.1
    port: 5433
ssh:
  key: cli-key
  port: ${sshPort}
credentials:
  admin: Cli-Admin-Password-1
${extra}`;
}

before(async () => {
  dir = tempDir();
  writeFileSync(join(dir, 'id_test'), usableEd25519Key(), { mode: 0o600 });
  // The probe connects and hangs up at once: a reset on our side is expected.
  sshLike = createServer((s) => s.on('error', () => undefined).end('SSH-2.0-fake\r\n'));
  await new Promise<void>((r) => sshLike.listen(0, '127.0.0.1', r));
  const port = (sshLike.address() as { port: number }).port;
  specFile = join(dir, 'spec.yaml');
  writeFileSync(specFile, spec('cli-one', port));
  ctl = await startController(join(dir, 'data'));
  const added = await nines(['key', 'add', 'cli-key', '--file', join(dir, 'id_test')]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^key cli-key added: ssh-ed25519 SHA256:/);
});

after(async () => {
  await ctl.stop();
  sshLike.close();
});

test('spec validate works offline and reports precise problems', async () => {
  const ok = await nines(['spec', 'validate', '-f', specFile], { NINES_URL: 'http://127.0.0.1:1' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /valid postgres-streaming spec for cluster cli-one \(2 nodes\)/);
  assert.ok(!ok.stdout.includes('Cli-Admin-Password-1'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, spec('bad', 22).replace('port: 5433', 'port: 70000'));
  const r = await nines(['spec', 'validate', '-f', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error NINES_E_SPEC_INVALID: .*nodes\[1\]\.port: expected 1-65535, got 70000/);
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'name: x\nnodes: [\n  {host: a}\n');
  const p = await nines(['spec', 'validate', '-f', broken, '--json']);
  assert.equal(p.code, 1);
  const err = JSON.parse(p.stderr) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'NINES_E_SPEC_PARSE');
  assert.match(err.error.message, /broken\.yaml:\d+:\d+: /);
});

test('cluster create --wait, list --json, show, node list, job logs --follow, events', async () => {
  const created = await nines(['cluster', 'create', '-f', specFile, '--wait']);
  assert.equal(created.code, 0, created.stderr + created.stdout);
  assert.match(created.stdout, /job 1 cluster\.create succeeded/);
  assert.match(created.stderr, /job 1 cluster\.create: succeeded 100%/, 'line-based progress when not a TTY');

  const list = await nines(['cluster', 'list', '--json']);
  assert.equal(list.code, 0);
  const { clusters } = JSON.parse(list.stdout) as {
    clusters: { name: string; state: string; nodes: number }[];
  };
  assert.deepEqual(
    clusters.map((c) => [c.name, c.state, c.nodes]),
    [['cli-one', 'healthy', 2]],
  );

  const table = await nines(['cluster', 'list']);
  assert.match(table.stdout, /^NAME\s+TYPE\s+VERSION\s+STATE/m);
  const show = await nines(['cluster', 'show', 'cli-one', '--json']);
  assert.ok(!show.stdout.includes('Cli-Admin-Password-1'));
  assert.match(show.stdout, /"admin": "\*\*\*"/);
  const nodes = await nines(['node', 'list', '--cluster', 'cli-one']);
  assert.match(nodes.stdout, /127\.0\.0\.1\s+5432\s+primary/);

  const logs = await nines(['job', 'logs', '1', '--follow']);
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /127\.0\.0\.1: reachable/);
  const jobs = await nines(['job', 'list', '--json']);
  assert.equal((JSON.parse(jobs.stdout) as { jobs: unknown[] }).jobs.length, 1);
  const show1 = await nines(['job', 'show', '1']);
  assert.match(show1.stdout, /connectivity\s+succeeded/);

  const events = await nines(['events', '--cluster', 'cli-one', '--json']);
  const types = (JSON.parse(events.stdout) as { events: { type: string }[] }).events.map((e) => e.type);
  assert.ok(types.includes('cluster.created') && types.includes('job.succeeded'));
  const human = await nines(['events', '--type', 'cluster.']);
  assert.match(human.stdout, /cluster cli-one created/);

  const log = ctl.logs.join('\n');
  assert.match(log, /admin API token written to/);
  assert.ok(!log.includes('Cli-Admin-Password-1'), 'the controller log never holds a password');
  assert.ok(!log.includes(ctl.token), 'the controller log never holds a token');
});

test('exit codes: job failed 3, cancelled 4, auth 5, usage 2', async () => {
  const unreachable = join(dir, 'unreachable.yaml');
  writeFileSync(unreachable, spec('cli-down', 1));
  const failed = await nines(['cluster', 'create', '-f', unreachable, '--wait']);
  assert.equal(failed.code, 3, failed.stderr + failed.stdout);
  assert.match(failed.stdout, /error NINES_E_HOST_UNREACHABLE/);

  const { job } = await api<{ job: { id: number } }>(ctl, 'POST', '/jobs', {
    type: 'test.sleep',
    params: { ms: 20_000 },
  });
  const following = nines(['job', 'logs', String(job.id), '--follow']);
  // Cancelled while it runs (the follower exits 4 whether it attached before or after the cancel).
  await poll('the job running', async () => {
    const j = await api<{ job: { state: string } }>(ctl, 'GET', `/jobs/${job.id}`);
    return j.job.state === 'running' ? true : undefined;
  });
  const cancel = await nines(['job', 'cancel', String(job.id)]);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.equal((await following).code, 4);

  const auth = await nines(['cluster', 'list'], { NINES_TOKEN: 'nines_wrong' });
  assert.equal(auth.code, 5);
  assert.match(auth.stderr, /NINES_E_AUTH_INVALID/);

  assert.equal((await nines(['cluster', 'frobnicate'])).code, 2);
  assert.equal((await nines(['job', 'show', 'abc'])).code, 2);
  assert.equal((await nines(['cluster', 'list', '--bogus'])).code, 2);
  const down = await nines(['cluster', 'list'], { NINES_URL: 'http://127.0.0.1:1' });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /NINES_E_CONTROLLER_UNREACHABLE/);
});

test('a bad spec through the CLI writes nothing', async () => {
  const before = await api<{ jobs: unknown[] }>(ctl, 'GET', '/jobs?limit=500');
  const dup = join(dir, 'dup.yaml');
  writeFileSync(dup, spec('cli-dup', 22).replace('port: 5433', 'port: 5432'));
  const r = await nines(['cluster', 'create', '-f', dup]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nodes\[1\]: expected a unique host:port, got 127\.0\.0\.1:5432/);
  const nokey = join(dir, 'nokey.yaml');
  writeFileSync(nokey, spec('cli-nokey', 22).replace('key: cli-key', 'key: no-such-key'));
  const k = await nines(['cluster', 'create', '-f', nokey]);
  assert.equal(k.code, 1);
  assert.match(k.stderr, /NINES_E_SSH_KEY_UNKNOWN: .*no key named 'no-such-key'/);
  const path = join(dir, 'path.yaml');
  writeFileSync(path, spec('cli-path', 22).replace('key: cli-key', `keyFile: ${join(dir, 'id_test')}`));
  const p = await nines(['cluster', 'create', '-f', path]);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /NINES_E_SSH_KEY_PATH: .*ssh\.keyFile/);
  assert.match(p.stderr, /nines key add NAME --file PATH/);
  const after = await api<{ jobs: unknown[] }>(ctl, 'GET', '/jobs?limit=500');
  assert.equal(after.jobs.length, before.jobs.length);
});

test('help texts', async () => {
  const main = await nines(['--help']);
  assert.equal(main.code, 0);
  for (const g of ['controller', 'cluster', 'key', 'node', 'job', 'events', 'spec']) {
    assert.match(main.stdout, new RegExp(`^  ${g}\\s`, 'm'));
    const h = await nines([g, '--help']);
    assert.equal(h.code, 0, g);
    assert.match(h.stdout, /^Usage: nines /);
  }
});

test('key list/show never print the private key; remove is refused while a cluster uses the key', async () => {
  const privateKey = readFileSync(join(dir, 'id_test'), 'utf8');
  const secretLine = privateKey.split('\n')[1] ?? '';
  const list = await nines(['key', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^NAME\s+TYPE\s+FINGERPRINT/m);
  assert.match(list.stdout, /cli-key\s+ssh-ed25519\s+SHA256:\S+\s+\S+\s+\S*cli-one/);
  const show = await nines(['key', 'show', 'cli-key', '--json']);
  assert.equal(show.code, 0, show.stderr);
  for (const out of [list.stdout, show.stdout])
    assert.ok(!out.includes(secretLine), 'no private key material');
  const again = await nines(['key', 'add', 'cli-key', '--file', join(dir, 'id_test')]);
  assert.match(again.stdout, /^key cli-key unchanged/);
  const inUse = await nines(['key', 'remove', 'cli-key']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, /NINES_E_KEY_IN_USE: .*cli-key is used by .*cli-one/);
  const missing = await nines(['key', 'add', 'other', '--file', join(dir, 'no-such-file')]);
  assert.equal(missing.code, 2, 'an unreadable --file is a usage error');
  assert.match(missing.stderr, /cannot read it on this machine \(ENOENT\)/);
  const spare = join(dir, 'id_spare');
  writeFileSync(spare, usableEd25519Key(), { mode: 0o600 });
  assert.equal((await nines(['key', 'add', 'spare', '-f', spare])).code, 0);
  const removed = await nines(['key', 'remove', 'spare']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /^key spare removed/);
});
