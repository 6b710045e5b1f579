// The api.* part of the controller config: limits, TLS choice, what counts as loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { isLoopbackHost, loadConfig } from '../../../src/controller/config.ts';

test('loopback is 127.0.0.0/8, ::1 and localhost; 0.0.0.0, :: and other addresses are beyond it', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST'])
    assert.ok(isLoopbackHost(h), h);
  for (const h of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '192.0.2.1',
    'ctl.example.com',
    '127.0.0.1.evil',
    '::ffff:10.0.0.1',
  ]) {
    assert.ok(!isLoopbackHost(h), h);
  }
});

test('api defaults, --insecure-http override and env limits', () => {
  const d = loadConfig({ env: {}, overrides: { dataDir: '/tmp/x' } });
  assert.equal(d.api.requestTimeoutMs, 30_000);
  assert.equal(d.api.authFailureLimit, 10);
  assert.equal(d.api.insecureHttp, false);
  const o = loadConfig({
    env: { NINES_API_AUTH_FAILURE_LIMIT: '3' },
    overrides: { dataDir: '/tmp/x', insecureHttp: true },
  });
  assert.equal(o.api.insecureHttp, true);
  assert.equal(o.api.authFailureLimit, 3);
});

test('inconsistent api settings are refused with the key named', () => {
  for (const [env, where] of [
    [
      { NINES_API_HEADERS_TIMEOUT_MS: '40000' },
      /api\.headersTimeoutMs: headersTimeoutMs must not be above requestTimeoutMs/,
    ],
    [{ NINES_API_AUTH_FAILURE_LIMIT: '0' }, /api\.authFailureLimit: expected >= 1/],
    [{ NINES_SSE_HEARTBEAT_MS: '200000' }, /api\.sseHeartbeatMs: sseHeartbeatMs must be below idleTimeoutMs/],
  ] as const) {
    assert.throws(
      () => loadConfig({ env, overrides: { dataDir: '/tmp/x' } }),
      (err: unknown) => isNinesError(err, 'NINES_E_CONFIG_INVALID') && where.test(err.message),
    );
  }
});
