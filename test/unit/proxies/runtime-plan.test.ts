// The pure half of the runtime API: which node writes (with the reason), `show stat` parsing, and the
// commands that move a running HAProxy to a view.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  currentWriter,
  endpointView,
  parseShowStat,
  runtimeCommands,
  writerCommands,
} from '../../../src/proxies/index.ts';
import type { BackendServerState } from '../../../src/proxies/index.ts';
import { sameServers } from '../../../src/proxies/haproxy/runtime-plan.ts';
import * as f from './fixtures.ts';

const SHOW_STAT = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,addr
write,10.0.0.11:3306,0,0,2,3,,9,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,40,0,,1,3,1,,9,,2,0,,1,L4OK,,0,,10.0.0.11:3306
write,10.0.0.12:3306,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,40,40,,1,3,2,,0,,2,0,,0,,,,,10.0.0.12:3306
write,BACKEND,0,0,2,3,,9,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,40,0,,1,3,0,,9,,1,0,,1,,,,,
read,10.0.0.12:3306,0,0,1,1,,4,0,0,,0,,0,0,0,0,UP 1/2,1,1,0,1,0,3,0,,1,4,1,,4,,2,0,,1,* L4CON,,0,,10.0.0.12:3306
read,10.0.0.13:3306,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,0,1,0,0,0,40,0,,1,4,2,,0,,2,0,,0,L4OK,,0,,10.0.0.13:3306
`;

function st(
  backend: string,
  server: string,
  admin: BackendServerState['admin'],
  backup = false,
): BackendServerState {
  return {
    backend,
    server,
    address: server,
    admin,
    health: admin === 'maint' ? 'unchecked' : 'up',
    status: admin === 'maint' ? 'MAINT' : 'UP',
    backup,
    sessions: 0,
    weight: 1,
    lastChangeSeconds: 1,
    checkStatus: 'L4OK',
  };
}

describe('endpointView', () => {
  test('single primary: the primary writes, replicas read', () => {
    const v = endpointView(f.mariadbSpec(), f.mariadbTopology);
    assert.equal(v.writer, '10.0.0.11:3306');
    assert.equal(v.reason, '10.0.0.11:3306 is the only primary');
    assert.deepEqual(
      v.servers.map((s) => [s.name, s.write, s.read]),
      [
        ['10.0.0.11:3306', 'active', 'disabled'],
        ['10.0.0.12:3306', 'disabled', 'active'],
        ['10.0.0.13:3306', 'disabled', 'active'],
      ],
    );
  });

  test('two primaries: keep the current writer if it is one of them, else refuse writes', () => {
    const topo = {
      ...f.mariadbTopology,
      nodes: f.mariadbTopology.nodes.map((n, i) => ({
        ...n,
        role: i < 2 ? ('primary' as const) : ('replica' as const),
      })),
    };
    const keep = endpointView(f.mariadbSpec(), topo, { currentWriter: '10.0.0.12:3306' });
    assert.equal(keep.writer, '10.0.0.12:3306');
    assert.match(keep.reason, /keeping the current writer 10\.0\.0\.12:3306/);
    const none = endpointView(f.mariadbSpec(), topo);
    assert.equal(none.writer, undefined);
    assert.match(none.reason, /writes are refused until one remains/);
  });

  test('galera: the current writer stays while synced; otherwise highest priority synced member', () => {
    assert.equal(
      endpointView(f.galeraSpec(), f.galeraTopology, { currentWriter: 'db1:3306' }).writer,
      'db1:3306',
    );
    const v = endpointView(f.galeraSpec(), f.galeraTopology, { currentWriter: 'db3:3306' });
    assert.equal(v.writer, 'db2:3306');
    assert.equal(v.reason, 'db2:3306 is the synced member with the highest priority');
  });

  test('lagging and unknown nodes leave the read backend; topology-only nodes are appended', () => {
    const topo = {
      ...f.mariadbTopology,
      nodes: [...f.mariadbTopology.nodes, { host: '10.0.0.14', port: 3306, role: 'replica' as const }],
    };
    const v = endpointView(f.mariadbSpec(), topo, { lagging: ['10.0.0.13:3306'] });
    assert.deepEqual(
      v.servers.map((s) => [s.name, s.read]),
      [
        ['10.0.0.11:3306', 'disabled'],
        ['10.0.0.12:3306', 'active'],
        ['10.0.0.13:3306', 'disabled'],
        ['10.0.0.14:3306', 'active'],
      ],
    );
  });
});

describe('parseShowStat', () => {
  test('servers only, fields by header name, admin and health from the status', () => {
    const s = parseShowStat(SHOW_STAT);
    assert.equal(s.length, 4);
    assert.deepEqual(s[0], {
      backend: 'write',
      server: '10.0.0.11:3306',
      address: '10.0.0.11:3306',
      admin: 'ready',
      health: 'up',
      status: 'UP',
      backup: false,
      sessions: 2,
      weight: 1,
      lastChangeSeconds: 40,
      checkStatus: 'L4OK',
    });
    assert.deepEqual(
      s.map((x) => [x.server, x.admin, x.health, x.checkStatus]),
      [
        ['10.0.0.11:3306', 'ready', 'up', 'L4OK'],
        ['10.0.0.12:3306', 'maint', 'unchecked', ''],
        ['10.0.0.12:3306', 'ready', 'up', 'L4CON'],
        ['10.0.0.13:3306', 'drain', 'up', 'L4OK'],
      ],
    );
    assert.equal(currentWriter(s), '10.0.0.11:3306');
  });
});

describe('writerCommands', () => {
  test('enable the new writer first, then maintenance, then cut the old sessions', () => {
    const states = [st('write', 'a', 'ready'), st('write', 'b', 'maint'), st('write', 'c', 'maint')];
    assert.deepEqual(writerCommands(states, 'b'), [
      'set server write/b state ready',
      'set server write/a state maint',
      'shutdown sessions server write/a',
    ]);
    assert.deepEqual(writerCommands(states, 'a'), []);
  });

  test('galera: backups stay ready as fallbacks, or are drained when the writer is a backup', () => {
    const states = [
      st('write', 'a', 'ready'),
      st('write', 'b', 'ready', true),
      st('write', 'c', 'ready', true),
    ];
    assert.deepEqual(writerCommands(states, 'a'), []);
    assert.deepEqual(writerCommands(states, 'c'), [
      'set server write/a state maint',
      'set server write/b state drain',
      'shutdown sessions server write/a',
      'shutdown sessions server write/b',
    ]);
  });

  test('no writer: everything in maintenance', () => {
    const states = [st('write', 'a', 'ready'), st('write', 'b', 'maint')];
    assert.deepEqual(writerCommands(states, undefined), [
      'set server write/a state maint',
      'shutdown sessions server write/a',
    ]);
  });
});

describe('runtimeCommands', () => {
  test('failover: old primary out of both backends, new primary writes, remaining replica reads', () => {
    const states = [
      st('write', '10.0.0.11:3306', 'ready'),
      st('write', '10.0.0.12:3306', 'maint'),
      st('write', '10.0.0.13:3306', 'maint'),
      st('read', '10.0.0.11:3306', 'maint'),
      st('read', '10.0.0.12:3306', 'ready'),
      st('read', '10.0.0.13:3306', 'ready'),
    ];
    const topo = {
      type: 'mariadb-replication' as const,
      nodes: [
        { host: '10.0.0.11', port: 3306, role: 'unknown' as const },
        { host: '10.0.0.12', port: 3306, role: 'primary' as const },
        { host: '10.0.0.13', port: 3306, role: 'replica' as const },
      ],
    };
    const view = endpointView(f.mariadbSpec(), topo);
    assert.ok(sameServers(states, view));
    assert.deepEqual(runtimeCommands(states, view), [
      'set server write/10.0.0.12:3306 state ready',
      'set server write/10.0.0.11:3306 state maint',
      'shutdown sessions server write/10.0.0.11:3306',
      'set server read/10.0.0.12:3306 state maint',
    ]);
  });

  test('a node added or removed needs the new config', () => {
    const view = endpointView(f.mariadbSpec(), f.mariadbTopology);
    assert.equal(
      sameServers([st('write', '10.0.0.11:3306', 'ready'), st('read', '10.0.0.11:3306', 'maint')], view),
      false,
    );
  });
});
