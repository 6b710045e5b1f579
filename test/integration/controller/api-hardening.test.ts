// The API under attack, against real controller processes and raw sockets (issue 8, items 5-7): slow bodies
// without a token, a slow body with one, 2,000 wrong tokens, oversized headers and path parameters, a bad URL,
// HTTPS beyond loopback with the CLI pinning the certificate, and the modes of the data directory's files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { MAIN, SCALE, tempDir } from './helpers.ts';

const run = promisify(execFile);
const dirs: string[] = [];
const procs: ChildProcess[] = [];

after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Ctl {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly dataDir: string;
  readonly logs: string[];
  stop(): Promise<void>;
}

/** A controller process; `fdLimit` runs it under `ulimit -n`. Resolves once it logs its URL. */
function startCtl(
  dataDir: string,
  args: string[],
  env: Record<string, string> = {},
  fdLimit?: number,
): Promise<Ctl> {
  const argv = ['--disable-warning=ExperimentalWarning', MAIN, 'controller', 'start', '--data-dir', dataDir];
  const proc = fdLimit
    ? spawn('sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...argv, ...args], {
        env: { ...process.env, NINES_MONITOR_ENABLED: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, [...argv, ...args], {
        env: { ...process.env, NINES_MONITOR_ENABLED: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  procs.push(proc);
  const logs: string[] = [];
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start:\n${logs.join('\n')}`)), 15_000 * SCALE);
    void exited.then(() => reject(new Error(`controller exited:\n${logs.join('\n')}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      logs.push(line);
      const m = /"url":"(https?:\/\/[^"]+:(\d+))"/.exec(line);
      if (!m?.[1] || !line.includes('listening')) return;
      clearTimeout(timer);
      resolve({
        url: m[1],
        port: Number(m[2]),
        token: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
        dataDir,
        logs,
        stop: async () => {
          proc.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

function newDir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

/** A raw HTTP/1.1 exchange on a socket; resolves with what the server wrote before it closed the connection
 * (or, if it keeps the connection past the deadline, destroys it and says so). */
function raw(
  port: number,
  request: string,
  options: { localAddress?: string; deadlineMs?: number } = {},
): Promise<{ text: string; closedMs: number; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const { deadlineMs = 10_000 * SCALE, ...net } = options;
    const s = connect({ port, host: '127.0.0.1', ...net }, () => s.write(request));
    let text = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, deadlineMs);
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedMs: Date.now() - started, timedOut });
    });
  });
}

function jsonBody(text: string): { code: string; message: string; hint: string } {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
    code: string;
    message: string;
    hint: string;
  };
}

test(
  '300 slow bodies without a token are answered 401 and closed; the controller (ulimit -n 256) keeps serving',
  { timeout: 120_000 * SCALE },
  async () => {
    const ctl = await startCtl(join(newDir(), 'data'), ['--listen', '127.0.0.1:0'], {}, 256);
    const sockets: Socket[] = [];
    /** Opens one attack connection: headers promise a 1 MB body; one byte follows, and no more. */
    const attack = (path: string): Promise<string> => {
      const s = connect({ port: ctl.port, host: '127.0.0.1' });
      sockets.push(s);
      s.on('error', () => undefined);
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{`,
      );
      return new Promise((r) => s.once('close', () => r(text)));
    };
    try {
      // Six waves of 50 (a burst of 300 accepts at once would hit the fd limit in the kernel queue whatever the
      // server does): before the fix the first waves were never closed and held 250 of the 256 descriptors.
      for (let wave = 0; wave < 6; wave++) {
        const closed = Array.from({ length: 50 }, (_, i) =>
          attack(i % 10 === 9 ? '/api/v1/nothing' : '/api/v1/clusters'),
        );
        // While the wave's connections exist, a normal request is answered.
        const health = await fetch(`${ctl.url}/api/v1/health`);
        assert.equal(health.status, 200);
        let timer: NodeJS.Timeout | undefined;
        const answers = await Promise.race([
          Promise.all(closed),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`wave ${wave}: slow-body sockets still open after 10 s`)),
              10_000 * SCALE,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        answers.forEach((a, n) => {
          const [status, code] =
            n % 10 === 9 ? ['404', 'NINES_E_NOT_FOUND'] : ['401', 'NINES_E_AUTH_REQUIRED'];
          assert.match(a, new RegExp(`^HTTP/1\\.1 ${status} `));
          assert.equal(jsonBody(a).code, code);
        });
      }
      const list = await fetch(`${ctl.url}/api/v1/clusters`, {
        headers: { authorization: `Bearer ${ctl.token}` },
      });
      assert.equal(list.status, 200);
    } finally {
      for (const s of sockets) s.destroy();
      await ctl.stop();
    }
  },
);

test(
  'a slow body with a valid token is cut at api.requestTimeoutMs with 408 {code, message, hint}',
  { timeout: 120_000 * SCALE },
  async () => {
    const ctl = await startCtl(join(newDir(), 'data'), ['--listen', '127.0.0.1:0'], {
      NINES_API_REQUEST_TIMEOUT_MS: String(1500 * SCALE),
      NINES_API_HEADERS_TIMEOUT_MS: String(1000 * SCALE),
    });
    try {
      const r = await raw(
        ctl.port,
        `POST /api/v1/clusters HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${ctl.token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
      );
      assert.equal(r.timedOut, false, 'the server closed the connection');
      assert.match(r.text, /^HTTP\/1\.1 408 /);
      assert.equal(jsonBody(r.text).code, 'NINES_E_REQUEST_TIMEOUT');
      // Node checks the deadline every 250 ms here; generous upper bound for a loaded machine.
      assert.ok(r.closedMs >= 1400 * SCALE && r.closedMs < 6000 * SCALE, `closed after ${r.closedMs} ms`);
    } finally {
      await ctl.stop();
    }
  },
);

test(
  '2,000 wrong tokens: 10 are answered 401, the rest 429 with Retry-After; other addresses are unaffected',
  { timeout: 120_000 * SCALE },
  async () => {
    // A long window: no token refills during the loop, so exactly `limit` wrong tokens are looked at.
    const ctl = await startCtl(join(newDir(), 'data'), ['--listen', '127.0.0.1:0'], {
      NINES_API_AUTH_FAILURE_WINDOW_MS: '600000',
    });
    try {
      const counts = new Map<number, number>();
      let retryAfter: string | null = null;
      // Sequential, keep-alive off (each refusal closes its connection): a bounded loop on loopback.
      for (let i = 0; i < 2000; i++) {
        const res = await fetch(`${ctl.url}/api/v1/clusters`, {
          headers: { authorization: `Bearer nines_guess${i}` },
        });
        await res.arrayBuffer();
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        if (res.status === 429) retryAfter = res.headers.get('retry-after');
      }
      assert.deepEqual(Object.fromEntries(counts), { 401: 10, 429: 1990 });
      assert.ok(Number(retryAfter) >= 1, `retry-after ${retryAfter}`);
      // Locked out: even the valid token is refused from 127.0.0.1 without being looked at ...
      const same = await fetch(`${ctl.url}/api/v1/clusters`, {
        headers: { authorization: `Bearer ${ctl.token}` },
      });
      assert.equal(same.status, 429);
      assert.equal(((await same.json()) as { code: string }).code, 'NINES_E_AUTH_RATE_LIMITED');
      // ... while a client on another address is served.
      const other = await raw(
        ctl.port,
        `GET /api/v1/clusters HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${ctl.token}\r\nconnection: close\r\n\r\n`,
        { localAddress: '127.0.0.2' },
      );
      assert.match(other.text, /^HTTP\/1\.1 200 /);
      // The lockout is an event naming the address, and request log lines carry the client address.
      const { text: events } = await raw(
        ctl.port,
        `GET /api/v1/events?type=auth. HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${ctl.token}\r\nconnection: close\r\n\r\n`,
        { localAddress: '127.0.0.3' },
      );
      const body = JSON.parse(events.slice(events.indexOf('\r\n\r\n') + 4)) as {
        events: { type: string; data: { address?: string } }[];
      };
      assert.deepEqual(
        body.events.map((e) => [e.type, e.data.address]),
        [['auth.locked-out', '127.0.0.1']],
      );
      assert.ok(ctl.logs.some((l) => l.includes('"msg":"request"') && l.includes('"ip":"127.0.0.2"')));
    } finally {
      await ctl.stop();
    }
  },
);

test(
  "Node's and Fastify's own refusals (431, 414, bad URL, 404) answer {code, message, hint} JSON",
  { timeout: 120_000 * SCALE },
  async () => {
    const ctl = await startCtl(join(newDir(), 'data'), ['--listen', '127.0.0.1:0']);
    const auth = `authorization: Bearer ${ctl.token}\r\n`;
    try {
      const cases: [string, number, string][] = [
        [
          `GET /api/v1/health HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
          431,
          'NINES_E_HEADERS_TOO_LARGE',
        ],
        [`GET /api/v1/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'NINES_E_HEADERS_TOO_LARGE'],
        [
          `GET /api/v1/clusters/${'n'.repeat(300)} HTTP/1.1\r\nHost: x\r\n${auth}connection: close\r\n\r\n`,
          414,
          'NINES_E_URI_TOO_LONG',
        ],
        [
          `GET /api/v1/clusters/%zz HTTP/1.1\r\nHost: x\r\n${auth}connection: close\r\n\r\n`,
          400,
          'NINES_E_BAD_REQUEST',
        ],
        [`GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n`, 404, 'NINES_E_NOT_FOUND'],
        [`BREW /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n`, 400, 'NINES_E_BAD_REQUEST'],
      ];
      for (const [request, status, code] of cases) {
        const r = await raw(ctl.port, request);
        assert.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `), `${code}: ${r.text.slice(0, 200)}`);
        assert.match(r.text, /content-type: application\/json/i);
        const body = jsonBody(r.text);
        assert.equal(body.code, code);
        assert.ok(body.message.length > 0 && body.hint.length > 0);
      }
    } finally {
      await ctl.stop();
    }
  },
);

async function nines(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN, ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 * SCALE },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test(
  'beyond loopback the API is HTTPS; the CLI pins the certificate on first use and refuses a new one',
  { timeout: 120_000 * SCALE },
  async () => {
    const dir = newDir();
    const dataDir = join(dir, 'data');
    const env = { NINES_KNOWN_CONTROLLERS: join(dir, 'known_controllers'), NINES_DATA_DIR: dataDir };
    let ctl = await startCtl(dataDir, ['--listen', '0.0.0.0:0']);
    const port = ctl.port;
    try {
      assert.match(ctl.url, /^https:\/\//);
      assert.equal(statSync(join(dataDir, 'api-key.pem')).mode & 0o777, 0o600);
      // Plain HTTP to the HTTPS port gets nothing useful.
      await assert.rejects(fetch(`http://127.0.0.1:${port}/api/v1/health`));
      const url = `https://127.0.0.1:${port}`;
      const first = await nines(['cluster', 'list', '--url', url], env);
      assert.equal(first.code, 0, first.stderr);
      assert.match(
        first.stderr,
        /pinned the certificate of the controller 127\.0\.0\.1:\d+ \(sha256 [0-9A-F:]{95}\)/,
      );
      const again = await nines(['cluster', 'list', '--url', url], env);
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /pinned/);
      // A new certificate (as a man in the middle would present) is refused before the token is sent.
      await ctl.stop();
      rmSync(join(dataDir, 'api-cert.pem'));
      rmSync(join(dataDir, 'api-key.pem'));
      ctl = await startCtl(dataDir, ['--listen', `0.0.0.0:${port}`]);
      const changed = await nines(['cluster', 'list', '--url', url, '--json'], env);
      assert.notEqual(changed.code, 0);
      assert.match(changed.stderr, /NINES_E_API_CERT_CHANGED/);
      assert.match(changed.stderr, /known_controllers line 1/);
      // --ca FILE trusts the new certificate explicitly (it names 127.0.0.1).
      const withCa = await nines(
        ['cluster', 'list', '--url', url, '--ca', join(dataDir, 'api-cert.pem')],
        env,
      );
      assert.equal(withCa.code, 0, withCa.stderr);
    } finally {
      await ctl.stop();
    }
  },
);

test(
  'plain HTTP beyond loopback only with --insecure-http, and it logs a warning',
  { timeout: 120_000 * SCALE },
  async () => {
    const ctl = await startCtl(join(newDir(), 'data'), ['--listen', '0.0.0.0:0', '--insecure-http']);
    try {
      assert.match(ctl.url, /^http:\/\//);
      assert.ok(ctl.logs.some((l) => l.includes('"level":40') && l.includes('plain HTTP')));
      assert.equal((await fetch(`http://127.0.0.1:${ctl.port}/api/v1/health`)).status, 200);
    } finally {
      await ctl.stop();
    }
  },
);

test(
  'nines.db, -wal and -shm are 0600; a secret.key readable by others refuses the start with chmod 600',
  { timeout: 120_000 * SCALE },
  async () => {
    const dataDir = join(newDir(), 'data');
    const ctl = await startCtl(dataDir, ['--listen', '127.0.0.1:0']);
    try {
      // The controller has written (admin token, migrations): the WAL files exist.
      for (const f of ['nines.db', 'nines.db-wal', 'nines.db-shm', 'secret.key', 'admin.token']) {
        assert.equal((statSync(join(dataDir, f)).mode & 0o777).toString(8), '600', f);
      }
    } finally {
      await ctl.stop();
    }
    const key = join(dataDir, 'secret.key');
    const before = readFileSync(key);
    chmodSync(key, 0o644);
    const r = await nines(['controller', 'start', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {});
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NINES_E_FILE_PERMISSIONS/);
    assert.match(r.stderr, new RegExp(`chmod 600 ${key.replace(/[.]/g, '\\.')}`));
    assert.equal(statSync(key).mode & 0o777, 0o644, 'the mode is left for the operator to fix');
    assert.deepEqual(readFileSync(key), before);
  },
);
