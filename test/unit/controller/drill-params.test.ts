import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNinesError } from '../../../src/core/errors.ts';
import { validateSpec, type ClusterSpec } from '../../../src/core/spec.ts';
import { parseOrThrow } from '../../../src/core/validation.ts';
import { failoverReadiness, type RecoveryView } from '../../../src/controller/drill/deps.ts';
import {
  currentPrimary,
  DrillParams,
  matchLab,
  REVERT,
  writeEndpoint,
  type LabView,
} from '../../../src/controller/drill/params.ts';

const spec = (over: Record<string, unknown> = {}): ClusterSpec =>
  validateSpec({
    name: 'c1',
    type: 'mariadb-replication',
    nodes: [{ host: '10.77.5.11', role: 'primary' }, { host: '10.77.5.12' }, { host: '10.77.5.13' }],
    ssh: { key: 'k' },
    credentials: { admin: 'admin-secret-1', replication: 'repl-secret-1', monitor: 'monitor-secret-1' },
    endpoint: { proxies: ['10.77.5.14', '10.77.5.15'], virtualIp: '10.77.5.100' },
    ...over,
  }).spec;

const lab = (name: string, third: number, count: number, up = true): LabView => ({
  name,
  up,
  hosts: Array.from({ length: count }, (_, i) => ({
    name: `h${i + 1}`,
    address: `10.77.${third}.${11 + i}`,
  })),
});

test('matchLab: every node and proxy host in one lab that is up, else NINES_E_DRILL_NOT_LAB naming why', () => {
  const ok = matchLab(spec(), [lab('other', 6, 5), lab('lab5', 5, 5)]);
  assert.equal(ok.lab, 'lab5');
  assert.deepEqual(ok.hostNames, {
    '10.77.5.11': 'h1',
    '10.77.5.12': 'h2',
    '10.77.5.13': 'h3',
    '10.77.5.14': 'h4',
    '10.77.5.15': 'h5',
  });
  const refusals: Array<[string, LabView[], RegExp]> = [
    ['no lab at all', [], /10\.77\.5\.11, .*10\.77\.5\.15 are not hosts of a lab on this machine/],
    ['a proxy outside the lab', [lab('lab5', 5, 4)], /10\.77\.5\.15 is not a host of a lab/],
    ['the lab is down (machine rebooted)', [lab('lab5', 5, 5, false)], /are not hosts of a lab/],
    [
      'hosts split over two labs',
      [
        lab('lab5', 5, 3),
        {
          name: 'b',
          up: true,
          hosts: [
            { name: 'h1', address: '10.77.5.14' },
            { name: 'h2', address: '10.77.5.15' },
          ],
        },
      ],
      /spread over labs b, lab5/,
    ],
  ];
  for (const [name, labs, message] of refusals) {
    assert.throws(
      () => matchLab(spec(), labs),
      (e) => isNinesError(e, 'NINES_E_DRILL_NOT_LAB') && message.test(e.message),
      name,
    );
  }
});

test('writeEndpoint: the virtual IP, else the first proxy, on the write port; none without an endpoint', () => {
  assert.deepEqual(writeEndpoint(spec()), { host: '10.77.5.100', port: 3307 });
  const noVip = spec({ endpoint: { proxies: ['10.77.5.14', '10.77.5.15'], writePort: 6000 } });
  assert.deepEqual(writeEndpoint(noVip), { host: '10.77.5.14', port: 6000 });
  const pg = spec({ type: 'postgres-streaming', endpoint: { proxies: ['10.77.5.14'] } });
  assert.deepEqual(writeEndpoint(pg), { host: '10.77.5.14', port: 5433 });
  assert.throws(
    () => writeEndpoint(spec({ endpoint: undefined })),
    (e) => isNinesError(e, 'NINES_E_DRILL_UNSUPPORTED') && /no endpoint/.test(e.message),
  );
});

test('currentPrimary: exactly one primary in the inventory', () => {
  const n = (host: string, role: string | null) => ({ host, port: 3306, role });
  assert.equal(currentPrimary('c1', [n('a', 'replica'), n('b', 'primary')]), 'b:3306');
  for (const [nodes, message] of [
    [[n('a', 'replica'), n('b', null)], /no primary/],
    [[n('a', 'primary'), n('b', 'primary')], /2 primaries \(a:3306, b:3306\)/],
  ] as const) {
    assert.throws(
      () => currentPrimary('c1', nodes),
      (e) => isNinesError(e, 'NINES_E_DRILL_UNSUPPORTED') && message.test(e.message),
    );
  }
});

test('DrillParams: defaults, bounds and the revert of each fault', () => {
  assert.deepEqual(parseOrThrow(DrillParams, { fault: 'crash' }, 'NINES_E_INVALID_ARGUMENT'), {
    fault: 'crash',
    repeat: 1,
    rate: 20,
    timeoutMs: 120_000,
  });
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /fault: expected one of crash\|poweroff\|partition\|freeze, got nothing/],
    [{ fault: 'isolate-from' }, /fault: expected one of .*got 'isolate-from'/],
    [{ fault: 'crash', repeat: 0 }, /repeat: expected 1-100/],
    [{ fault: 'crash', repeat: 2.5 }, /repeat: expected an integer/],
    [{ fault: 'crash', rate: 1000 }, /rate: expected 1-200/],
    [{ fault: 'crash', timeoutMs: 10 }, /timeoutMs: expected 1000-1800000/],
    [{ fault: 'crash', extra: 1 }, /unknown key 'extra'/],
  ];
  for (const [input, message] of bad) {
    assert.throws(
      () => parseOrThrow(DrillParams, input, 'NINES_E_INVALID_ARGUMENT'),
      (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT') && message.test(e.message),
      JSON.stringify(input),
    );
  }
  assert.deepEqual(REVERT, { crash: 'restart', poweroff: 'restart', partition: 'heal', freeze: 'thaw' });
});

test('failoverReadiness: the live plan, a running failover and the cooldown; nothing when recovery is off', () => {
  type Status = ReturnType<RecoveryView['status']>;
  const view = (over: Partial<Status>): RecoveryView => ({
    status: () => ({
      supported: true,
      enabled: true,
      plan: { action: 'promote', reason: 'if the primary fails now: promote h2', rpo: { action: 'promote' } },
      cooldownUntil: null,
      running: null,
      ...over,
    }),
  });
  const table: Array<[string, Partial<Status>, ReturnType<typeof failoverReadiness>]> = [
    ['ready', {}, { ready: true, reason: 'if the primary fails now: promote h2' }],
    ['recovery off', { enabled: false }, undefined],
    ['no failover verbs', { supported: false }, undefined],
    [
      'a failover running',
      { running: { phase: 'fenced' } },
      { ready: false, reason: 'a failover is running (phase fenced)' },
    ],
    [
      'in the cooldown',
      { cooldownUntil: Date.parse('2026-12-04T21:00:00Z') },
      { ready: false, reason: 'in the failover cooldown until 2026-12-04T21:00:00.000Z' },
    ],
    ['no plan yet', { plan: null }, { ready: false, reason: 'no live failover plan yet' }],
    [
      'the plan promotes nobody',
      { plan: { action: 'none', reason: 'if the primary fails now: no failover' } },
      { ready: false, reason: 'if the primary fails now: no failover' },
    ],
    [
      'the loss bound cannot be proven',
      {
        plan: {
          action: 'promote',
          reason: 'promote h2; refused: semi-sync not active',
          rpo: { action: 'refuse' },
        },
      },
      { ready: false, reason: 'promote h2; refused: semi-sync not active' },
    ],
  ];
  for (const [name, over, expected] of table)
    assert.deepEqual(failoverReadiness(view(over), 'c1'), expected, name);
});
