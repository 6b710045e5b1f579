// The controller daemon with the test doubles wired in, for integration tests that need a real process:
//   node test/support/test-controller.ts --data-dir DIR --listen HOST:PORT [--real-deploy] [--no-test-jobs]
// It is `nines controller start` (src/api/daemon.ts: same config, API, logs and signals) plus the test job types
// (test/support/test-jobs.ts) and, unless --real-deploy, the fake deploy (test/support/fake-deploy.ts). The doubles
// exist only under test/: no environment variable or config key of a production start can enable them.
import { parseArgs } from 'node:util';
import { startDaemon } from '../../src/api/daemon.ts';
import { fakeDeployDeps } from './fake-deploy.ts';
import { TEST_JOB_TYPES } from './test-jobs.ts';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    config: { type: 'string' },
    listen: { type: 'string' },
    'real-deploy': { type: 'boolean', default: false },
    'no-test-jobs': { type: 'boolean', default: false },
  },
});
const daemon = await startDaemon({
  ...(values.config ? { file: values.config } : {}),
  overrides: {
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    ...(values.listen ? { listen: values.listen } : {}),
  },
  controller: {
    ...(values['real-deploy'] ? {} : { deploy: fakeDeployDeps() }),
    ...(values['no-test-jobs'] ? {} : { jobTypes: TEST_JOB_TYPES }),
  },
});
await daemon.stopped;
