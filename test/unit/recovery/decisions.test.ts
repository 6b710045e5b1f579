import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analysePrimary,
  type DetectionInput,
  type ReplicaVantage,
} from '../../../src/core/recovery/detection.ts';
import { proveRpo, type RpoInput } from '../../../src/core/recovery/rpo.ts';
import { checkCooldown } from '../../../src/core/recovery/cooldown.ts';
import {
  FAILOVER_PHASES,
  canTransition,
  resumeStep,
  type FailoverPhase,
} from '../../../src/core/recovery/phases.ts';

const rep = (
  node: string,
  link: ReplicaVantage['link'],
  portCheck: ReplicaVantage['portCheck'] = 'unknown',
  reachable = true,
) => ({
  node,
  reachable,
  link,
  portCheck,
});
const input = (over: Partial<DetectionInput>): DetectionInput => ({
  controllerFailures: 0,
  downAfterFailures: 2,
  replicas: [],
  proxies: [],
  ...over,
});

test('detection truth table: action and reason', () => {
  const table: Array<[string, DetectionInput, string, string]> = [
    ['all answer', input({ replicas: [rep('h2', 'up')] }), 'healthy', 'the primary answers'],
    [
      'one missed probe',
      input({ controllerFailures: 1, replicas: [rep('h2', 'down', 'down')] }),
      'watch',
      'the controller missed 1 of 2 probes of the primary',
    ],
    [
      'crash: everyone agrees',
      input({
        controllerFailures: 2,
        replicas: [rep('h2', 'down', 'down'), rep('h3', 'up', 'down')],
        proxies: [{ proxy: 'p1', writer: 'down' }],
      }),
      'failed',
      'primary down: the controller missed 2 probes and h2, h3, proxy p1 agree',
    ],
    [
      'controller alone is cut off',
      input({
        controllerFailures: 5,
        replicas: [rep('h2', 'up', 'up'), rep('h3', 'up', 'unknown')],
        proxies: [{ proxy: 'p1', writer: 'up' }],
      }),
      'unreachable-from-controller',
      'not failing over: the primary is unreachable from the controller but h2, h3, proxy p1 still reach it',
    ],
    [
      'one replica still reaches it',
      input({ controllerFailures: 3, replicas: [rep('h2', 'down', 'down'), rep('h3', 'down', 'up')] }),
      'unreachable-from-controller',
      'not failing over: the primary is unreachable from the controller but h3 still reach it',
    ],
    [
      'no second opinion',
      input({ controllerFailures: 3, replicas: [rep('h2', 'down', 'down', false)] }),
      'watch',
      'the controller missed 3 probes of the primary, but no replica or proxy could confirm it is down',
    ],
    [
      'isolated primary: replicas and every proxy lost it, the controller did not',
      input({
        replicas: [rep('h2', 'down', 'down'), rep('h3', 'down')],
        proxies: [
          { proxy: 'p1', writer: 'down' },
          { proxy: 'p2', writer: 'down' },
        ],
      }),
      'failed',
      'primary isolated: the controller reaches it but h2, h3, proxy p1, proxy p2 cannot; the application cannot write through the endpoint',
    ],
    [
      'replicas lost it but a proxy still routes to it',
      input({
        replicas: [rep('h2', 'down', 'down')],
        proxies: [
          { proxy: 'p1', writer: 'down' },
          { proxy: 'p2', writer: 'up' },
        ],
      }),
      'healthy',
      'the primary answers',
    ],
    [
      'only proxies lost it (proxy-side problem)',
      input({ replicas: [rep('h2', 'up')], proxies: [{ proxy: 'p1', writer: 'down' }] }),
      'healthy',
      'the primary answers',
    ],
    [
      'no proxies: every answering replica lost it',
      input({ replicas: [rep('h2', 'down', 'down'), rep('h3', 'down', 'unknown')] }),
      'failed',
      'primary isolated: the controller reaches it but h2, h3 cannot; the application cannot write through the endpoint',
    ],
    [
      'a broken link alone is outweighed by an open port',
      input({ controllerFailures: 2, replicas: [rep('h2', 'down', 'up')] }),
      'unreachable-from-controller',
      'not failing over: the primary is unreachable from the controller but h2 still reach it',
    ],
    [
      'a stale running link is outweighed by a closed port (power-off, no reset)',
      input({ controllerFailures: 2, replicas: [rep('h2', 'up', 'down')] }),
      'failed',
      'primary down: the controller missed 2 probes and h2 agree',
    ],
    [
      'no port check answer: the link decides',
      input({ controllerFailures: 2, replicas: [rep('h2', 'up', 'unknown')] }),
      'unreachable-from-controller',
      'not failing over: the primary is unreachable from the controller but h2 still reach it',
    ],
  ];
  for (const [name, i, action, reason] of table) {
    const d = analysePrimary(i);
    assert.equal(d.action, action, name);
    assert.equal(d.reason, reason, name);
  }
});

test('detection: a TCP-level proxy check that says up is no evidence the database answers (frozen primary)', () => {
  const frozen = analysePrimary(
    input({
      controllerFailures: 2,
      replicas: [rep('h2', 'up', 'down'), rep('h3', 'up', 'down')],
      proxies: [
        { proxy: 'p1', writer: 'up', checkLevel: 'tcp' },
        { proxy: 'p2', writer: 'up', checkLevel: 'tcp' },
      ],
    }),
  );
  assert.equal(frozen.action, 'failed');
  assert.equal(frozen.reason, 'primary down: the controller missed 2 probes and h2, h3 agree');
  // The same 'up' from a check that talks the protocol is a disagreement: no failover.
  const protocol = analysePrimary(
    input({
      controllerFailures: 2,
      replicas: [rep('h2', 'up', 'down')],
      proxies: [{ proxy: 'p1', writer: 'up', checkLevel: 'protocol' }],
    }),
  );
  assert.equal(protocol.action, 'unreachable-from-controller');
  // A TCP-level 'down' still counts (the port does not even accept connections).
  const refused = analysePrimary(
    input({
      controllerFailures: 2,
      replicas: [rep('h2', 'unknown', 'unknown')],
      proxies: [{ proxy: 'p1', writer: 'down', checkLevel: 'tcp' }],
    }),
  );
  assert.equal(refused.action, 'failed');
});

const rpo = (over: Partial<RpoInput>): RpoInput => ({
  mode: 'synchronous',
  candidate: 'h2',
  replicas: [
    { node: 'h2', reachable: true, received: 100n, inAckSet: true },
    { node: 'h3', reachable: true, received: 90n, inAckSet: true },
  ],
  primaryLastPosition: 100n,
  unit: 'transactions',
  ...over,
});

test('RPO: synchronous promotion is proven only when the candidate has what every ack-set member received', () => {
  const ok = proveRpo(rpo({}));
  assert.deepEqual([ok.action, ok.proven, ok.observedGap], ['promote', true, 0n]);
  assert.match(ok.reason, /h2 holds every acknowledged commit/);

  const ahead = proveRpo(rpo({ candidate: 'h3' }));
  assert.equal(ahead.action, 'refuse');
  assert.equal(ahead.reason, 'not promoting h3: h2 received more than h3');

  const silent = proveRpo(
    rpo({
      replicas: [
        { node: 'h2', reachable: true, received: 100n, inAckSet: true },
        { node: 'h3', reachable: false, received: null, inAckSet: true },
      ],
    }),
  );
  assert.equal(silent.action, 'refuse');
  assert.equal(
    silent.reason,
    'not promoting h2: h3 acknowledged commits and cannot be read now; it may hold commits h2 lacks',
  );
  const forced = proveRpo({
    ...rpo({
      replicas: [
        { node: 'h2', reachable: true, received: 97n, inAckSet: true },
        { node: 'h3', reachable: false, received: null, inAckSet: true },
      ],
    }),
    force: true,
  });
  assert.deepEqual([forced.action, forced.proven, forced.observedGap], ['promote', false, 3n]);
  assert.match(
    forced.reason,
    /^forced although the loss bound is not proven .*; at least 3 transactions may be lost$/,
  );

  // A replica outside the ack set (async member) does not block the proof.
  const outside = proveRpo(
    rpo({
      replicas: [
        { node: 'h2', reachable: true, received: 100n, inAckSet: true },
        { node: 'h3', reachable: false, received: null, inAckSet: false },
      ],
    }),
  );
  assert.equal(outside.action, 'promote');
});

test('RPO: degraded (fell back to async) and async refuse unless forced or accepted', () => {
  const degraded = proveRpo(rpo({ mode: 'degraded' }));
  assert.equal(degraded.action, 'refuse');
  assert.match(degraded.reason, /fallen back to asynchronous/);
  const asyncRefused = proveRpo(rpo({ mode: 'asynchronous', primaryLastPosition: 105n }));
  assert.equal(asyncRefused.action, 'refuse');
  assert.equal(
    asyncRefused.reason,
    'not promoting h2: asynchronous replication, no loss bound can be proven (at least 5 transactions may be lost)',
  );
  const accepted = proveRpo(rpo({ mode: 'asynchronous', primaryLastPosition: null, acceptAsyncLoss: true }));
  assert.deepEqual([accepted.action, accepted.proven], ['promote', false]);
  assert.equal(
    accepted.reason,
    'asynchronous replication accepted in the spec: an unknown amount may be lost',
  );
  const unknown = proveRpo(rpo({ candidate: 'h9' }));
  assert.equal(unknown.action, 'refuse');
});

test('cooldown refuses a second automatic failover, explains, and can be forced', () => {
  assert.equal(checkCooldown({ now: 1000, lastFailoverAt: null, cooldownMs: 300_000 }).action, 'allow');
  const refused = checkCooldown({ now: 61_000, lastFailoverAt: 1000, cooldownMs: 300_000 });
  assert.deepEqual([refused.action, refused.until], ['refuse', 301_000]);
  assert.equal(
    refused.reason,
    'not failing over: the last failover was 60 s ago and the cooldown has 240 s left (force it with --force)',
  );
  assert.equal(
    checkCooldown({ now: 61_000, lastFailoverAt: 1000, cooldownMs: 300_000, force: true }).action,
    'allow',
  );
  assert.equal(checkCooldown({ now: 301_000, lastFailoverAt: 1000, cooldownMs: 300_000 }).action, 'allow');
});

test('failover phases: one step forward, abort only before promotion, resume names the next step', () => {
  const forward: Array<[FailoverPhase, FailoverPhase]> = [
    ['detected', 'fenced'],
    ['fenced', 'caught-up'],
    ['caught-up', 'promoted'],
    ['promoted', 'repointed'],
    ['repointed', 'endpoint-switched'],
    ['endpoint-switched', 'done'],
  ];
  for (const from of FAILOVER_PHASES) {
    for (const to of FAILOVER_PHASES) {
      const expected =
        forward.some(([a, b]) => a === from && b === to) ||
        (to === 'aborted' && ['detected', 'fenced', 'caught-up'].includes(from));
      assert.equal(canTransition(from, to), expected, `${from} -> ${to}`);
    }
  }
  assert.deepEqual(resumeStep('caught-up'), {
    step: 'promote-candidate',
    reason: 'resuming after phase caught-up: next step promote-candidate',
  });
  assert.equal(resumeStep('done').step, null);
  assert.equal(resumeStep('aborted').step, null);
});

test('the live failover plan says what would happen, in one sentence', async () => {
  const { failoverPlan } = await import('../../../src/core/recovery/plan.ts');
  const base = {
    ranking: { primaryDatacenter: 'dc1', maxApplyBacklogSeconds: 10 },
    ackMode: 'synchronous' as const,
    ackSet: new Set(['h2', 'h3']),
    primaryLastPosition: 5531n,
    unit: 'transactions' as const,
    ackName: 'semi-sync',
    positionLabel: (n: string) => (n === 'h2' ? 'GTID 0-1-5531' : 'GTID 0-1-5530'),
  };
  const cand = (node: string, received: bigint, reachable = true) => ({
    node,
    reachable,
    received,
    applied: received,
    applyBacklogSeconds: 0,
    datacenter: 'dc1',
    priority: 100,
  });
  const plan = failoverPlan({ ...base, candidates: [cand('h3', 5530n), cand('h2', 5531n)] });
  assert.equal(plan.action, 'promote');
  assert.equal(
    plan.reason,
    'if the primary fails now: promote h2 (GTID 0-1-5531, most advanced, same datacenter, priority 100); h3 follows h2; expected loss 0 (semi-sync)',
  );
  const refused = failoverPlan({ ...base, candidates: [cand('h2', 5531n), cand('h3', 0n, false)] });
  assert.equal(refused.action, 'none');
  assert.equal(
    refused.reason,
    'if the primary fails now: no automatic failover — not promoting h2: h3 acknowledged commits and cannot be read now; it may hold commits h2 lacks',
  );
  const none = failoverPlan({ ...base, candidates: [cand('h2', 1n, false)] });
  assert.equal(
    none.reason,
    'if the primary fails now: no failover, no replica can be promoted (h2 not reachable from the controller)',
  );
  const asyncPlan = failoverPlan({
    ...base,
    ackMode: 'asynchronous',
    acceptAsyncLoss: true,
    ackSet: new Set<string>(),
    candidates: [cand('h2', 5529n)],
  });
  assert.match(asyncPlan.reason, /; expected loss 2 transactions or more \(asynchronous\)$/);
});
