// Test doubles (fake deploy, test job types) live under test/ and no production start can switch them on:
// src/ imports nothing from outside src/, and the environment variables that used to enable them do nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isNinesError } from '../../../src/core/errors.ts';
import { loadConfig } from '../../../src/controller/config.ts';
import { Controller } from '../../../src/controller/controller.ts';
import { okProbe, specFor, tempDir, testPrivateKey, waitFor } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SRC = join(ROOT, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : /\.tsx?$/.test(name) ? [full] : [];
  });
}

test('nothing in src/ imports from outside src/, nor names the old test switches', () => {
  const importRe = /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  const outside: string[] = [];
  for (const file of walk(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const target = resolve(dirname(file), m[1] ?? m[2] ?? '');
      if (relative(SRC, target).startsWith('..')) outside.push(`${relative(ROOT, file)} -> ${m[1] ?? m[2]}`);
    }
    for (const word of ['NINES_TEST_JOBS', 'NINES_TEST_FAKE_DEPLOY', 'testFakeDeploy', 'testJobs']) {
      if (text.includes(word)) outside.push(`${relative(ROOT, file)} names ${word}`);
    }
  }
  assert.deepEqual(outside, []);
  const layers = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-layers.ts')], {
    encoding: 'utf8',
  });
  assert.equal(layers.status, 0, layers.stderr);
});

test('a production controller with NINES_TEST_JOBS=1 and NINES_TEST_FAKE_DEPLOY=1 has no test job and deploys for real', async () => {
  const dir = tempDir();
  const config = loadConfig({
    env: {
      NINES_TEST_JOBS: '1',
      NINES_TEST_FAKE_DEPLOY: '1',
      NINES_MONITOR_ENABLED: '0',
      NINES_LOG_LEVEL: 'silent',
    },
    overrides: { dataDir: join(dir, 'data') },
  });
  const controller = Controller.open({ config, probeHost: okProbe });
  controller.keys.add('test-key', testPrivateKey());
  controller.start();
  try {
    assert.throws(
      () => controller.jobs.submit({ type: 'test.sleep', cluster: 'x', params: {} }),
      (err: unknown) => isNinesError(err) && err.code === 'NINES_E_JOB_TYPE_UNKNOWN',
    );
    // The fake deploy would succeed at once; the real one must reach the hosts over SSH (loopback; the key is
    // authorized nowhere).
    const { job } = await controller.createCluster(specFor('prod', 'test-key'));
    const done = await waitFor(
      'the deploy to end',
      () => {
        const j = controller.store.jobs.get(job.id);
        return j && j.state !== 'queued' && j.state !== 'running' ? j : undefined;
      },
      20_000,
    );
    assert.equal(done.state, 'failed');
    const logs = controller.store.jobs
      .logs(job.id)
      .map((l) => l.line)
      .join('\n');
    assert.doesNotMatch(logs, /fake deploy|fake endpoint/);
    assert.match(logs, /SSH/, 'it tried the hosts over SSH');
  } finally {
    await controller.close(0);
  }
});

test('a config file cannot enable them either: testJobs and testFakeDeploy are unknown keys', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'data'));
  for (const key of ['testJobs', 'testFakeDeploy']) {
    const file = join(dir, `${key}.yaml`);
    writeFileSync(file, `${key}: true\n`);
    assert.throws(
      () => loadConfig({ file, env: {}, overrides: { dataDir: join(dir, 'data') } }),
      (err: unknown) =>
        isNinesError(err) && err.code === 'NINES_E_CONFIG_INVALID' && err.message.includes(key),
    );
  }
});
