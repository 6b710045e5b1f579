import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySshError } from '../../../src/hosts/ssh-errors.ts';

const errno = (code: string): Error =>
  Object.assign(new Error(`connect ${code}`), { code, level: 'client-socket' });
const level = (lvl: string): Error => Object.assign(new Error('whatever the text says'), { level: lvl });

const table: [string, unknown, object, string][] = [
  ['refused', errno('ECONNREFUSED'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['tcp timeout', errno('ETIMEDOUT'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['no route', errno('EHOSTUNREACH'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['net unreachable', errno('ENETUNREACH'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['reset', errno('ECONNRESET'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['dns', errno('ENOTFOUND'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['ssh2 dns level', level('client-dns'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['handshake timeout', level('client-timeout'), { connectTimeoutMs: 500 }, 'NINES_E_HOST_UNREACHABLE'],
  ['auth', level('client-authentication'), {}, 'NINES_E_SSH_AUTH'],
  ['agent', level('agent'), {}, 'NINES_E_SSH_AUTH'],
  ['handshake failure', level('handshake'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['host key rejected by us', level('handshake'), { hostKeyChanged: true }, 'NINES_E_SSH_HOSTKEY_CHANGED'],
  ['protocol', level('protocol'), {}, 'NINES_E_HOST_UNREACHABLE'],
  ['not an error object', 'boom', {}, 'NINES_E_HOST_UNREACHABLE'],
  ['null', null, {}, 'NINES_E_HOST_UNREACHABLE'],
];

for (const [name, err, facts, code] of table) {
  test(`classifySshError: ${name} -> ${code}`, () => {
    assert.equal(classifySshError(err, facts).code, code);
  });
}

test('classifySshError: the message text is never what decides', () => {
  const lying = Object.assign(new Error('All configured authentication methods failed'), {
    code: 'ECONNREFUSED',
  });
  assert.equal(classifySshError(lying).code, 'NINES_E_HOST_UNREACHABLE');
  assert.equal(
    classifySshError(new Error('Host denied (verification failed)')).code,
    'NINES_E_HOST_UNREACHABLE',
  );
});

test('classifySshError: hints name the cause', () => {
  assert.match(classifySshError(errno('ECONNREFUSED')).hint ?? '', /refused/);
  assert.match(classifySshError(level('client-timeout'), { connectTimeoutMs: 750 }).hint ?? '', /750 ms/);
});
