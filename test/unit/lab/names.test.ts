import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bridgeName,
  chooseSubnet,
  cidrRange,
  hostNames,
  labAddresses,
  labTag,
  netnsName,
  parseNetnsName,
  validateHostCount,
  validateLabName,
  vethName,
} from '../../../src/lab/names.ts';
import { isNinesError } from '../../../src/core/errors.ts';

test('cidrRange: prefixes, host routes and garbage', () => {
  assert.deepEqual(cidrRange('10.77.3.0/24'), [0x0a4d0300, 0x0a4d03ff]);
  assert.deepEqual(cidrRange('10.77.3.9'), [0x0a4d0309, 0x0a4d0309]);
  assert.deepEqual(cidrRange('10.77.3.9/16'), [0x0a4d0000, 0x0a4dffff], 'host bits are masked');
  assert.equal(cidrRange('fe80::/64'), undefined);
  assert.equal(cidrRange('10.0.0.0/33'), undefined);
  assert.equal(cidrRange('300.1.1.1/8'), undefined);
});

test('chooseSubnet: the first free /24 from the seed, skipping overlaps, ignoring default routes', () => {
  const table: [string[], number, number | undefined, string][] = [
    [[], 5, 5, 'nothing used: the seed'],
    [['10.77.5.0/24'], 5, 6, 'taken /24 skipped'],
    [['10.77.5.1/32', '10.77.6.0/25'], 5, 7, 'host route and smaller prefix overlap'],
    [['10.77.0.0/16'], 0, undefined, 'a covering /16 leaves nothing'],
    [['10.0.0.0/8'], 0, undefined, 'a covering /8 leaves nothing'],
    [['0.0.0.0/0', '192.0.2.0/24'], 9, 9, 'default route ignored'],
    [['10.77.255.0/24'], 255, 0, 'wraps around'],
  ];
  for (const [used, seed, want, why] of table) assert.equal(chooseSubnet(used, seed), want, why);
});

test('labAddresses: controller .1, hosts from .11', () => {
  assert.deepEqual(labAddresses(42, 3), {
    subnet: '10.77.42.0/24',
    prefixLength: 24,
    controller: '10.77.42.1',
    hosts: ['10.77.42.11', '10.77.42.12', '10.77.42.13'],
  });
});

test('interface names fit in 15 characters and differ between labs', () => {
  for (const name of [
    'nines',
    'a',
    'abcdef',
    'a-very-long-lab-name-for-tests-1',
    'a-very-long-lab-name-for-tests-2',
  ]) {
    assert.ok(bridgeName(name).length <= 15, bridgeName(name));
    assert.ok(vethName(name, 'h50').length <= 15, vethName(name, 'h50'));
  }
  assert.equal(labTag('nines'), 'nines');
  assert.equal(bridgeName('nines'), 'n9-nines');
  assert.equal(vethName('nines', 'h2'), 'n9-nines-h2');
  assert.notEqual(labTag('a-very-long-lab-name-for-tests-1'), labTag('a-very-long-lab-name-for-tests-2'));
  assert.match(labTag('long-name'), /^[0-9a-f]{6}$/);
});

test('netns names parse back to lab and host, even for labs whose name ends like a host', () => {
  for (const [lab, host] of [
    ['nines', 'h1'],
    ['ab-h1', 'h12'],
    ['x', 'h3'],
  ] as const) {
    assert.deepEqual(parseNetnsName(netnsName(lab, host)), { lab, host });
  }
  assert.equal(parseNetnsName('docker-1'), undefined);
  assert.equal(parseNetnsName('nines-x-hx'), undefined);
});

test('names and host counts are validated', () => {
  assert.deepEqual(hostNames(3), ['h1', 'h2', 'h3']);
  for (const bad of ['', 'Upper', '-lead', 'a/b', 'a b', 'x'.repeat(33)]) {
    assert.throws(
      () => validateLabName(bad),
      (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
      bad,
    );
  }
  assert.equal(validateLabName('t1-a'), 't1-a');
  for (const bad of [0, -1, 51, 1.5, Number.NaN]) {
    assert.throws(
      () => validateHostCount(bad),
      (e) => isNinesError(e, 'NINES_E_INVALID_ARGUMENT'),
    );
  }
});
