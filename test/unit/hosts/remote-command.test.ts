import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import {
  PgidMarkerFilter,
  exitStatus,
  killGroupCommand,
  withEnv,
  wrapCommand,
} from '../../../src/hosts/remote-command.ts';
import { isNinesError } from '../../../src/core/errors.ts';

function sh(command: string, input = ''): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('/bin/sh', ['-c', command], { input, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test('wrapCommand runs argv unchanged in a new process group and reports the group id first on stderr', () => {
  const argv = [
    'sh',
    '-c',
    'printf "%s|" "$@"; echo; ps -o pgid= -p $$ >&2',
    'x',
    "it's",
    '$HOME',
    'a b',
    '',
  ];
  const r = sh(wrapCommand(argv));
  assert.equal(r.status, 0);
  assert.equal(r.stdout, "it's|$HOME|a b||\n");
  const [marker, pgidLine] = r.stderr.split('\n');
  const m = /^nines-pgid=(\d+)$/.exec(marker ?? '');
  assert.ok(m, r.stderr);
  // The group of the user's command is the reported one, and not ours.
  assert.equal(Number(pgidLine?.trim()), Number(m[1]));
  assert.notEqual(Number(m[1]), process.pid);
});

test('wrapCommand passes env with an env prefix, stdin, and the exit code', () => {
  const r = sh(
    wrapCommand(['sh', '-c', 'cat; echo "$A/$B"; exit 7'], { env: { A: 'x y', B: "q'z" } }),
    'in:',
  );
  assert.equal(r.stdout, "in:x y/q'z\n");
  assert.equal(r.status, 7);
});

test('wrapCommand reports a signal death as 128+N', () => {
  const r = sh(wrapCommand(['sh', '-c', 'kill -TERM $$']));
  assert.equal(r.status, 128 + 15);
});

test('wrapCommand with sudo prefixes sudo -n --', () => {
  assert.match(wrapCommand(['true'], { sudo: true }), /^exec sudo -n -- setsid -w sh -c /);
  assert.doesNotMatch(wrapCommand(['true']), /sudo/);
});

test('withEnv refuses names a shell or env(1) would misread', () => {
  assert.deepEqual(withEnv(['x'], { A_1: 'v=w' }), ['env', 'A_1=v=w', 'x']);
  assert.deepEqual(withEnv(['x'], {}), ['x']);
  for (const bad of ['1A', 'A-B', 'A=B', '', 'A B']) {
    assert.throws(
      () => withEnv(['x'], { [bad]: 'v' }),
      (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
    );
  }
});

test('PgidMarkerFilter strips the marker even when it arrives in pieces', () => {
  const seen: number[] = [];
  const f = new PgidMarkerFilter((p) => seen.push(p));
  assert.equal(f.push(Buffer.from('nines-p')).length, 0);
  assert.equal(f.push(Buffer.from('gid=4242')).length, 0);
  assert.equal(f.push(Buffer.from('\nreal stderr\n')).toString(), 'real stderr\n');
  assert.equal(f.pgid, 4242);
  assert.deepEqual(seen, [4242]);
  assert.equal(f.push(Buffer.from('nines-pgid=1\n')).toString(), 'nines-pgid=1\n');
});

test('PgidMarkerFilter passes other first lines through (sudo refused before the wrapper ran)', () => {
  const f = new PgidMarkerFilter();
  assert.equal(
    f.push(Buffer.from('sudo: a password is required\n')).toString(),
    'sudo: a password is required\n',
  );
  assert.equal(f.pgid, undefined);
  const g = new PgidMarkerFilter();
  assert.equal(g.push(Buffer.from('nines')).length, 0);
  assert.equal(g.flush().toString(), 'nines');
});

test('killGroupCommand kills a whole group, TERM first, and tolerates a gone group', () => {
  const cmd = killGroupCommand(4242, 1000, false);
  assert.match(cmd, /nines-kill 4242 10$/);
  assert.match(killGroupCommand(4242, 1000, true), /^sudo -n -- sh -c /);
  assert.equal(sh(killGroupCommand(2 ** 22 + 12345, 100, false)).status, 0);
  assert.throws(() => killGroupCommand(1, 100, false));
  assert.throws(() => killGroupCommand(0, 100, false));
});

test('killGroupCommand really kills a process group that ignores TERM', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn('sh', ['-c', 'trap "" TERM; sleep 30 & wait'], { detached: true, stdio: 'ignore' });
  const pgid = child.pid ?? 0;
  // Polled until the group holds its sleep (the trap is set before the sleep starts).
  const members = (): string =>
    spawnSync('sh', ['-c', `ps -e -o pgid= -o comm= | awk '$1 == ${pgid} && $2 == "sleep"'`], {
      encoding: 'utf8',
    }).stdout.trim();
  for (const deadline = Date.now() + 5000; members() === '' && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.notEqual(members(), '', 'the group runs its sleep');
  const started = Date.now();
  const r = sh(killGroupCommand(pgid, 300, false));
  assert.equal(r.status, 0);
  assert.ok(Date.now() - started < 3000);
  // SIGKILL is delivered at once but a loaded machine may show the process a moment longer: poll briefly.
  const left = (): string =>
    spawnSync('sh', ['-c', `ps -e -o pgid= -o stat= | awk '$1 == ${pgid} && $2 !~ /^Z/'`], {
      encoding: 'utf8',
    }).stdout.trim();
  for (const deadline = Date.now() + 2000; left() !== '' && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(left(), '');
});

test('exitStatus maps signals like a shell does', () => {
  assert.equal(exitStatus(3, null, constants.signals), 3);
  assert.equal(exitStatus(null, 'KILL', constants.signals), 137);
  assert.equal(exitStatus(null, 'SIGTERM', constants.signals), 143);
  assert.equal(exitStatus(null, 'NOPE', constants.signals), 255);
});

test('wrapCommand fast path: a shell that leads its process group reports itself and execs the command', () => {
  // Under setsid the shell leads its group, like the shell sshd starts for a command.
  const script = wrapCommand(['sh', '-c', 'ps -o pgid= -p $$; ps -o args= -p $PPID >&2', 'x']);
  const r = spawnSync('setsid', ['/bin/sh', '-c', script], { encoding: 'utf8' });
  const [marker] = r.stderr.split('\n');
  const pgid = Number(/^nines-pgid=(\d+)$/.exec(marker ?? '')?.[1]);
  assert.equal(Number(r.stdout.trim()), pgid);
  assert.doesNotMatch(r.stderr, /setsid/, 'no setsid layer in the fast path');
});
