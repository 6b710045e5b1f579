// Host stats over SSH without an agent: the /proc and df parsers, CPU busy % and network bytes/s from two
// readings (incl. counter resets), and the one command readHostStats runs (through a fake executor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hostStatsFrom,
  parseDf,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  splitSections,
} from '../../../src/core/host-stats-parse.ts';
import { counterRate, sharePct } from '../../../src/core/counter-rate.ts';
import { hostStatsArgv, newHostStatsState, readHostStats } from '../../../src/hosts/host-stats.ts';
import { FakeExecutor } from '../../support/fake-executor.ts';

const STAT = `cpu  1000 10 500 8000 400 0 90 0 50 0
cpu0 500 5 250 4000 200 0 45 0 25 0
cpu1 500 5 250 4000 200 0 45 0 25 0
intr 12345
ctxt 999`;
const MEMINFO = `MemTotal:       16000000 kB
MemFree:         1000000 kB
MemAvailable:    4000000 kB
Buffers:          100000 kB`;
const NETDEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9999999    100    0    0    0     0          0         0  9999999     100    0    0    0     0       0          0
  eth0: 1000000    800    0    0    0     0          0         0  2000000     900    0    0    0     0       0          0
  eth1:    5000     10    0    0    0     0          0         0     3000      10    0    0    0     0       0          0`;
const DF = `Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/mapper/vg-data 1000000   250000    750000      25% /var/lib/mysql`;

function output(stat = STAT, net = NETDEV): string {
  return [
    '@@nines:stat',
    stat,
    '@@nines:meminfo',
    MEMINFO,
    '@@nines:loadavg',
    '0.50 0.75 1.00 2/300 12345',
    '@@nines:netdev',
    net,
    '@@nines:df',
    DF,
  ].join('\n');
}

test('/proc/stat: busy = everything but idle and iowait (guest counted in user already)', () => {
  assert.deepEqual(parseProcStat(STAT), { busy: 1000 + 10 + 500 + 90, total: 10_000, cpus: 2 });
  assert.equal(parseProcStat('garbage'), undefined);
});

test('/proc/meminfo, /proc/loadavg, /proc/net/dev (lo left out), df -P', () => {
  assert.deepEqual(parseMeminfo(MEMINFO), {
    totalBytes: 16_000_000 * 1024,
    availableBytes: 4_000_000 * 1024,
  });
  assert.equal(parseMeminfo('MemTotal: 1 kB'), undefined);
  assert.deepEqual(parseLoadavg('0.50 0.75 1.00 2/300 12345\n'), { load1: 0.5, load5: 0.75, load15: 1 });
  assert.deepEqual(parseNetDev(NETDEV), { rxBytes: 1_005_000, txBytes: 2_003_000 });
  assert.deepEqual(parseDf(DF), { totalBytes: 1_024_000_000, usedBytes: 256_000_000, usedPct: 25 });
  assert.deepEqual(
    parseDf('Filesystem 1024-blocks Used Available Capacity Mounted on\nmy disk 100 50 50 50% /data'),
    {
      totalBytes: 102_400,
      usedBytes: 51_200,
      usedPct: 50,
    },
  );
  assert.equal(parseDf('df: /nope: No such file or directory'), undefined);
});

test('sections are split by marker; unknown and missing sections are harmless', () => {
  const s = splitSections('@@nines:stat\na\nb\n@@nines:bogus\nx\n@@nines:df\nc');
  assert.deepEqual(s, { stat: 'a\nb', df: 'c' });
});

test('first reading: no CPU % and no network rates; second: both', () => {
  const first = hostStatsFrom(output(), 1000, undefined);
  assert.deepEqual(first.stats, {
    cpuCount: 2,
    memPct: 75,
    memTotalBytes: 16_384_000_000,
    memAvailableBytes: 4_096_000_000,
    diskPct: 25,
    diskTotalBytes: 1_024_000_000,
    diskUsedBytes: 256_000_000,
    load1: 0.5,
    load5: 0.75,
    load15: 1,
  });
  const stat2 = STAT.replace('cpu  1000 10 500 8000 400', 'cpu  1150 10 500 8040 410');
  const net2 = NETDEV.replace('eth0: 1000000', 'eth0: 1200000').replace('2000000     900', '2100000     900');
  const second = hostStatsFrom(output(stat2, net2), 3000, first.counters);
  // 150 busy jiffies of 200.
  assert.equal(second.stats.cpuPct, 75);
  assert.equal(second.stats.netRxBytesPerSecond, 100_000);
  assert.equal(second.stats.netTxBytesPerSecond, 50_000);
});

test('a counter reset (reboot, interface recreated) gives no rate, then the next reading does', () => {
  const first = hostStatsFrom(output(), 1000, undefined);
  const rebooted = hostStatsFrom(
    output(
      STAT.replace('cpu  1000', 'cpu  10').replace('8000', '80'),
      NETDEV.replace('eth0: 1000000', 'eth0: 10'),
    ),
    2000,
    first.counters,
  );
  assert.equal(rebooted.stats.cpuPct, undefined);
  assert.equal(rebooted.stats.netRxBytesPerSecond, undefined);
  assert.equal(counterRate({ value: 10, time: 0 }, { value: 5, time: 1000 }), undefined);
  assert.equal(counterRate({ value: 10, time: 0 }, { value: 20, time: 0 }), undefined);
  assert.equal(counterRate({ value: 10, time: 0 }, { value: 11, time: 1000 }, 5), 0);
  assert.equal(sharePct({ part: 1, total: 10 }, { part: 1, total: 10 }), undefined);
});

test('readHostStats runs one command with the data dir as an argument and keeps the reading', async () => {
  const fake = new FakeExecutor('db1').on(['sh', '-c'], { stdout: output() });
  const state = newHostStatsState();
  const stats = await readHostStats(fake, { dataDir: "/var/lib/my sql's", state });
  assert.equal(stats.memPct, 75);
  assert.ok(state.previous?.cpu);
  const argv = hostStatsArgv("/var/lib/my sql's");
  assert.equal(argv.at(-1), "/var/lib/my sql's", 'passed as $1, never spliced into the script');
  assert.ok(!(argv[2] ?? '').includes('my sql'));
  assert.equal(fake.commands().length, 1);
});
