import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatKnownHostsLine,
  hostKeyAlgorithmsFor,
  judgeHostKey,
  keyTypeOfBlob,
  knownHostName,
  lineMatchesHost,
  parseKnownHosts,
  parseKnownHostsLine,
  verifyHostKey,
} from '../../../src/hosts/known-hosts.ts';

function blob(type: string, body = randomBytes(32)): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  const blen = Buffer.alloc(4);
  blen.writeUInt32BE(body.length);
  return Buffer.concat([len, t, blen, body]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

test('knownHostName uses [host]:port except on port 22', () => {
  assert.equal(knownHostName('db1', 22), 'db1');
  assert.equal(knownHostName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('parse: markers, comments, blank and broken lines', () => {
  const k = blob('ssh-ed25519');
  const text = [
    '# comment',
    '',
    `db1,10.0.0.1 ssh-ed25519 ${k.toString('base64')} root@db1`,
    `@revoked db2 ssh-ed25519 ${k.toString('base64')}`,
    `@cert-authority *.example ssh-ed25519 ${k.toString('base64')}`,
    '@bogus x y z',
    'only-two fields',
  ].join('\n');
  const lines = parseKnownHosts(text);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[0]?.patterns, ['db1', '10.0.0.1']);
  assert.equal(lines[0]?.keyType, 'ssh-ed25519');
  assert.ok(lines[0]?.key.equals(k));
  assert.equal(lines[1]?.marker, 'revoked');
  assert.equal(lines[2]?.marker, 'cert-authority');
});

test('host matching: exact, [host]:port, wildcards, negation, hashed names', () => {
  const k = blob('ssh-ed25519').toString('base64');
  const line = (hosts: string) => parseKnownHostsLine(`${hosts} ssh-ed25519 ${k}`)!;
  assert.ok(lineMatchesHost(line('db1'), 'db1'));
  assert.ok(!lineMatchesHost(line('db1'), 'db10'));
  assert.ok(lineMatchesHost(line('[127.0.0.1]:2222'), '[127.0.0.1]:2222'));
  assert.ok(!lineMatchesHost(line('127.0.0.1'), '[127.0.0.1]:2222'));
  assert.ok(lineMatchesHost(line('db*.lab,!db3.lab'), 'db1.lab'));
  assert.ok(!lineMatchesHost(line('db*.lab,!db3.lab'), 'db3.lab'));
  assert.ok(lineMatchesHost(line('db?'), 'db7'));
  assert.ok(lineMatchesHost(line(hashed('[10.0.0.5]:22022')), '[10.0.0.5]:22022'));
  assert.ok(!lineMatchesHost(line(hashed('10.0.0.5')), '10.0.0.6'));
  assert.ok(!lineMatchesHost(line('a.b'), 'axb'), 'dots are literal');
});

test('judgeHostKey: known, unknown, changed, revoked; cert-authority lines ignored', () => {
  const good = blob('ssh-ed25519');
  const other = blob('ssh-ed25519');
  const lines = parseKnownHosts(
    [
      formatKnownHostsLine('[h]:2200', good),
      `@revoked [h]:2200 ssh-ed25519 ${other.toString('base64')}`,
      `@cert-authority [x]:1 ssh-ed25519 ${good.toString('base64')}`,
    ].join('\n'),
  );
  assert.equal(judgeHostKey(lines, '[h]:2200', good), 'known');
  assert.equal(judgeHostKey(lines, '[h]:2200', other), 'revoked');
  assert.equal(judgeHostKey(lines, '[h]:2200', blob('ssh-ed25519')), 'changed');
  assert.equal(judgeHostKey(lines, '[h]:2201', good), 'unknown');
  assert.equal(judgeHostKey(lines, '[x]:1', good), 'unknown');
});

test('hostKeyAlgorithmsFor offers only recorded key types', () => {
  const lines = parseKnownHosts(
    formatKnownHostsLine('h', blob('ssh-rsa')) + formatKnownHostsLine('h', blob('ssh-ed25519')),
  );
  assert.deepEqual(hostKeyAlgorithmsFor(lines, 'h'), [
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
    'ssh-ed25519',
  ]);
  assert.equal(hostKeyAlgorithmsFor(lines, 'other'), undefined);
});

test('keyTypeOfBlob reads the type from the blob', () => {
  assert.equal(keyTypeOfBlob(blob('ecdsa-sha2-nistp256')), 'ecdsa-sha2-nistp256');
  assert.equal(keyTypeOfBlob(Buffer.alloc(2)), '');
});

test('verifyHostKey: trust on first use, then known, then changed; OpenSSH reads the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nines-kh-'));
  try {
    const path = join(dir, 'sub', 'known_hosts');
    const pub = join(dir, 'k');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', pub]);
    const key = Buffer.from(readFileSync(`${pub}.pub`, 'utf8').split(' ')[1] ?? '', 'base64');
    assert.equal(await verifyHostKey(path, '127.0.0.1', 2222, key), 'added');
    assert.equal(await verifyHostKey(path, '127.0.0.1', 2222, key), 'known');
    assert.equal(await verifyHostKey(path, '127.0.0.1', 2222, blob('ssh-ed25519')), 'changed');
    assert.equal(await verifyHostKey(path, '127.0.0.1', 22, key), 'added');
    // ssh-keygen -F finds both entries the way ssh would.
    const found = execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2222', '-f', path], { encoding: 'utf8' });
    assert.match(found, /\[127\.0\.0\.1\]:2222 ssh-ed25519 /);
    execFileSync('ssh-keygen', ['-F', '127.0.0.1', '-f', path]);
    assert.equal((readFileSync(path, 'utf8').match(/\n/g) ?? []).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verifyHostKey: concurrent first connections record one line, and a file without final newline stays valid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nines-kh-'));
  try {
    const path = join(dir, 'known_hosts');
    writeFileSync(path, `other ssh-ed25519 ${blob('ssh-ed25519').toString('base64')}`);
    const key = blob('ssh-ed25519');
    const verdicts = await Promise.all(Array.from({ length: 20 }, () => verifyHostKey(path, 'h', 2200, key)));
    assert.equal(verdicts.filter((v) => v === 'added').length, 1);
    assert.ok(verdicts.every((v) => v === 'added' || v === 'known'));
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? '', /^\[h\]:2200 ssh-ed25519 /);
    // A different key racing the first one loses: it is judged against the recorded key.
    assert.equal(await verifyHostKey(path, 'h', 2200, blob('ssh-ed25519')), 'changed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
