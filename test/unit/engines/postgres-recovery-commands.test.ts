// postgres-streaming failover verbs: the exact host commands (the port check under timeout — run against a local
// fake server —, the stop script that fences, pg_rewind) and their parsers, port verdicts, "streams from that
// primary on that timeline".
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { validateSpec, type ClusterSpec, type NodeSpec } from '../../../src/core/spec.ts';
import {
  describeStop,
  portCheckArgv,
  parseStop,
  portVerdict,
  rewindArgv,
  rewindSummary,
  stopArgv,
} from '../../../src/engines/postgres/recovery-commands.ts';
import { streamsFrom, type ReceiverRow } from '../../../src/engines/postgres/positions.ts';

function makeSpec(version = '15'): ClusterSpec {
  return validateSpec({
    name: 'shop',
    type: 'postgres-streaming',
    version,
    nodes: [
      { host: '10.0.0.1', role: 'primary' },
      { host: '10.0.0.2' },
      { host: 'db-3.example', port: 5440 },
    ],
    ssh: { key: 'k' },
    credentials: { admin: "adm'in pass", replication: 'repl-pass', monitor: 'mon-pass1' },
    options: { synchronous: true },
  }).spec;
}

const spec = makeSpec();
const node = (i: number): NodeSpec => {
  const n = spec.nodes[i];
  assert.ok(n);
  return n;
};

test('portVerdict: only the greeting is up; a rejection, no answer or a timeout is down; no attempt is unknown', () => {
  const rows: [number, string][] = [
    [0, 'up'],
    [1, 'down'],
    [2, 'down'],
    [124, 'down'],
    [137, 'down'],
    [3, 'unknown'],
    [126, 'unknown'],
    [127, 'unknown'],
    [255, 'unknown'],
  ];
  for (const [code, want] of rows) assert.equal(portVerdict(code), want, String(code));
});

test('portCheckArgv: the script under timeout, host, port and user as parameters', () => {
  const argv = portCheckArgv(node(2), 700);
  assert.deepEqual(argv.slice(0, 6), ['timeout', '-k', '0.2', '0.700', 'bash', '-c']);
  assert.deepEqual(argv.slice(7), ['nines-portcheck', 'db-3.example', '5440', 'nines_admin']);
  assert.ok(!(argv[6] ?? '').includes('db-3.example'), 'no value is spliced into the script');
});

describe('the port check script against a local fake server', () => {
  /** A TCP server on 127.0.0.1 answering each connection with `reply` (or never), recording what it got. */
  async function fakeServer(
    reply: Buffer | null,
  ): Promise<{ port: number; got: Buffer[]; endings: string[]; close(): Promise<void> }> {
    const got: Buffer[] = [];
    const endings: string[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      // The startup packet may arrive in more than one chunk on a loaded machine: answer once it is whole.
      let buffered = Buffer.alloc(0);
      const onData = (data: Buffer): void => {
        buffered = Buffer.concat([buffered, data]);
        if (buffered.length < 4 || buffered.length < buffered.readUInt32BE(0)) return;
        socket.off('data', onData);
        got.push(buffered);
        if (reply) socket.write(reply);
      };
      socket.on('data', onData);
      socket.on('end', () => endings.push('end'));
      socket.on('error', (err: NodeJS.ErrnoException) => endings.push(err.code ?? 'error'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    return {
      port: address.port,
      got,
      endings,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }
  const run = (port: number, waitMs = 2000): Promise<number> => {
    const argv = portCheckArgv({ host: '127.0.0.1', port, datacenter: 'default', priority: 100 }, waitMs);
    return new Promise((resolve) => {
      execFile(argv[0] ?? 'timeout', argv.slice(1), (err) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve(code);
      });
    });
  };
  const errorPacket = (sqlstate: string): Buffer => {
    const body = Buffer.from(`SFATAL\0C${sqlstate}\0Mthe database system is starting up\0\0`, 'latin1');
    const head = Buffer.alloc(5);
    head.write('E', 0, 'latin1');
    head.writeUInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };

  test('an authentication request is up (0); the startup packet is protocol 3.0 for nines_admin', async () => {
    const sasl = Buffer.from([0x52, 0, 0, 0, 23, 0, 0, 0, 10, ...Buffer.from('SCRAM-SHA-256\0\0', 'latin1')]);
    const server = await fakeServer(sasl);
    try {
      assert.equal(await run(server.port), 0);
      const packet = server.got[0];
      assert.ok(packet);
      assert.equal(packet.readUInt32BE(0), packet.length, 'the length field is the packet length');
      assert.equal(packet.readUInt32BE(4), 196608, 'protocol 3.0');
      assert.equal(packet.subarray(8).toString('latin1'), 'user\0nines_admin\0database\0postgres\0\0');
      // It read the whole message and closed: an end of file (which PostgreSQL does not log), not a reset.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(server.endings, ['end']);
    } finally {
      await server.close();
    }
  });

  test('57P03 (cannot connect now) is rejecting (1); another error is an answer (0)', async () => {
    const starting = await fakeServer(errorPacket('57P03'));
    const hba = await fakeServer(errorPacket('28000'));
    try {
      assert.equal(await run(starting.port), 1);
      assert.equal(await run(hba.port), 0);
    } finally {
      await starting.close();
      await hba.close();
    }
  });

  test('accepted but never answered: killed by timeout (124) within the bound; refused: 2', async () => {
    const silent = await fakeServer(null);
    try {
      const start = Date.now();
      assert.equal(await run(silent.port, 300), 124);
      assert.ok(Date.now() - start < 1500, `${Date.now() - start} ms`);
    } finally {
      await silent.close();
    }
    assert.equal(await run(silent.port), 2, 'nothing listens any more');
  });
});

describe('the stop script', () => {
  test('argv: the script with the version and the waits (tenths of a second) as parameters', () => {
    const argv = stopArgv('15', 5440, { fastMs: 2790, immediateMs: 40 });
    assert.deepEqual(
      [argv[0], argv[1], ...argv.slice(3)],
      ['sh', '-c', 'nines-stop', '15', '5440', '27', '0'],
    );
    assert.match(argv[2] ?? '', /touch "\$data\/standby\.signal"/);
    assert.match(argv[2] ?? '', /ss -K -t "\( sport = :\$port \)"/);
    assert.deepEqual(stopArgv('16', 5432, { fastMs: 0, immediateMs: 1000 }).slice(3), [
      'nines-stop',
      '16',
      '5432',
      '1',
      '10',
    ]);
  });

  test('runs in sh: a node without data reports stopped, no data', () => {
    const argv = stopArgv('nines-test-no-such-version', 5432, { fastMs: 100, immediateMs: 100 });
    const out = execFileSync(argv[0] ?? 'sh', argv.slice(1), { encoding: 'utf8' });
    const r = parseStop(out);
    assert.deepEqual(r, {
      stopped: true,
      how: 'already-stopped',
      standbySignal: false,
      noData: true,
      state: null,
      checkpointLsn: null,
      timeline: null,
      checkpointLength: null,
      segmentSize: null,
    });
    assert.equal(describeStop(r), 'server already stopped; no data directory');
  });

  test('parseStop of a fenced primary and of a failed stop', () => {
    const fenced = parseStop(
      'standby_signal=1\nhow=fast\nrunning=0\nstate=shut down\ncheckpoint=0/3000028\ntimeline=1\nsegment_size=16777216\ncheckpoint_length=114\n',
    );
    assert.deepEqual(fenced, {
      stopped: true,
      how: 'fast',
      standbySignal: true,
      noData: false,
      state: 'shut down',
      checkpointLsn: '0/3000028',
      timeline: 1,
      checkpointLength: 114,
      segmentSize: 16777216,
    });
    assert.equal(
      describeStop(fenced),
      'server stopped (fast shutdown); standby.signal written: a restart comes up as a standby',
    );
    const stuck = parseStop('standby_signal=1\nhow=immediate-failed\nrunning=1\nstate=in production\n');
    assert.equal(stuck.stopped, false);
    assert.match(describeStop(stuck), /^neither a fast nor an immediate shutdown stopped the server/);
    assert.equal(parseStop('').stopped, false, 'no output proves nothing');
    // A data directory without a readable control file prints empty values.
    const empty = parseStop(
      'standby_signal=1\nhow=fast\nrunning=0\nstate=\ncheckpoint=\ntimeline=\nsegment_size=\n',
    );
    assert.deepEqual(
      [empty.state, empty.checkpointLsn, empty.timeline, empty.segmentSize],
      [null, null, null, null],
    );
  });
});

test('rewindArgv: the admin password through a passfile, --config-file from 15 on', () => {
  const argv = rewindArgv(spec, node(2));
  assert.deepEqual(argv, [
    'env',
    '-C',
    '/',
    'runuser',
    '-u',
    'postgres',
    '--',
    '/usr/lib/postgresql/15/bin/pg_rewind',
    '--target-pgdata=/var/lib/postgresql/15/main',
    '--source-server=host=db-3.example port=5440 user=nines_admin dbname=postgres passfile=/var/lib/postgresql/.pgpass-nines-rewind application_name=nines_rewind connect_timeout=5',
    '--config-file=/etc/postgresql/15/main/postgresql.conf',
  ]);
  assert.ok(!argv.join(' ').includes(spec.credentials.admin));
  assert.ok(!rewindArgv(makeSpec('14'), node(0)).some((a) => a.startsWith('--config-file')));
});

test('rewindSummary table', () => {
  const rows: [string, string][] = [
    [
      'pg_rewind: source and target cluster are on the same timeline\npg_rewind: no rewind required\n',
      'no rewind required',
    ],
    [
      'pg_rewind: servers diverged at WAL location 0/5000060 on timeline 1\npg_rewind: rewinding from last common checkpoint at 0/4000028 on timeline 1\npg_rewind: Done!\n',
      'diverged at 0/5000060 on timeline 1',
    ],
    ['pg_rewind: Done!', 'rewound'],
    ['something else', 'rewound (no "Done!" in its output)'],
  ];
  for (const [output, want] of rows) assert.equal(rewindSummary(output), want);
});

test('streamsFrom: streaming, from that primary, on its timeline', () => {
  const row: ReceiverRow = {
    in_recovery: true,
    status: 'streaming',
    sender_host: '10.0.0.2',
    sender_port: 5432,
    received_tli: 2,
    receive_start_tli: 2,
  };
  const primary = node(1);
  assert.equal(streamsFrom(row, primary, 2), true);
  assert.equal(streamsFrom({ ...row, received_tli: 1, receive_start_tli: 2 }, primary, 2), true);
  assert.equal(streamsFrom({ ...row, received_tli: 1, receive_start_tli: 1 }, primary, 2), false);
  assert.equal(streamsFrom({ ...row, sender_host: '10.0.0.1' }, primary, 2), false);
  assert.equal(streamsFrom({ ...row, status: 'waiting' }, primary, 2), false);
  assert.equal(streamsFrom({ ...row, in_recovery: false }, primary, 2), false);
});
