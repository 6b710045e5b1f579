import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNinesError } from '../../../src/core/errors.ts';
import { defaultDataDir, loadConfig, parseListen } from '../../../src/controller/config.ts';
import { tempDir } from './helpers.ts';

test('defaults, then file, then environment, then flags; the result is deeply frozen', () => {
  const dir = tempDir();
  const file = join(dir, 'nines.yaml');
  writeFileSync(file, 'listen: 0.0.0.0:9000\nlogLevel: debug\njobs:\n  maxConcurrent: 4\n');
  const fromFile = loadConfig({ file, env: {} });
  assert.equal(fromFile.listen, '0.0.0.0:9000');
  assert.equal(fromFile.jobs.maxConcurrent, 4);
  assert.equal(fromFile.jobs.shutdownGraceMs, 10_000);
  assert.equal(fromFile.monitor.enabled, true);
  const fromEnv = loadConfig({ file, env: { NINES_LISTEN: '127.0.0.1:9001', NINES_MONITOR_ENABLED: '0' } });
  assert.equal(fromEnv.listen, '127.0.0.1:9001');
  assert.equal(fromEnv.monitor.enabled, false);
  const fromFlag = loadConfig({
    file,
    env: { NINES_LISTEN: '127.0.0.1:9001' },
    overrides: { listen: '127.0.0.1:0' },
  });
  assert.equal(fromFlag.listen, '127.0.0.1:0');
  assert.ok(Object.isFrozen(fromFlag) && Object.isFrozen(fromFlag.jobs));
  assert.throws(() => {
    (fromFlag.jobs as { maxConcurrent: number }).maxConcurrent = 1;
  }, TypeError);
});

test('data directory: flag > NINES_DATA_DIR > XDG_STATE_HOME > ~/.local/state', () => {
  assert.equal(loadConfig({ env: { XDG_STATE_HOME: '/x' } }).dataDir, '/x/nines');
  assert.equal(loadConfig({ env: { XDG_STATE_HOME: '/x', NINES_DATA_DIR: '/y' } }).dataDir, '/y');
  assert.equal(loadConfig({ env: { NINES_DATA_DIR: '/y' }, overrides: { dataDir: '/z' } }).dataDir, '/z');
  assert.match(defaultDataDir({}), /\.local\/state\/nines$/);
});

test('unknown keys and bad values are rejected with the key named', () => {
  const dir = tempDir();
  const file = join(dir, 'nines.yaml');
  writeFileSync(file, 'listen: nowhere\njobs:\n  maxConcurent: 4\n');
  assert.throws(
    () => loadConfig({ file, env: {} }),
    (e) =>
      isNinesError(e, 'NINES_E_CONFIG_INVALID') &&
      e.message.includes("listen: expected HOST:PORT, got 'nowhere'") &&
      e.message.includes(
        "jobs.maxConcurent: expected one of maxConcurrent, shutdownGraceMs, got unknown key 'maxConcurent'",
      ),
  );
  assert.throws(
    () => loadConfig({ env: { NINES_JOBS_MAX_CONCURRENT: 'many' } }),
    (e) =>
      isNinesError(e, 'NINES_E_CONFIG_INVALID') &&
      e.message.includes("NINES_JOBS_MAX_CONCURRENT: expected a number, got 'many'"),
  );
  assert.throws(
    () => loadConfig({ file: join(dir, 'missing.yaml'), env: {} }),
    (e) => isNinesError(e, 'NINES_E_CONFIG_INVALID'),
  );
});

test('parseListen', () => {
  assert.deepEqual(parseListen('127.0.0.1:8456'), { host: '127.0.0.1', port: 8456 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
});
