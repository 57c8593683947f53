import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from './__fixtures__/memory-fs.js';
import {
  parseFlatKeyed,
  parseLoadavgTasks,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseSingleNumber,
} from './proc.js';

const fixture = (p: string): string => readFileSync(join(fixturesDir, p), 'utf8');

describe('proc parsers', () => {
  it('reads /proc/meminfo in bytes', () => {
    const m = parseMeminfo(fixture('proc/meminfo'));
    expect(m.get('MemTotal')).toBe(4030000 * 1024);
    expect(m.get('Inactive(file)')).toBe(890000 * 1024);
    expect(m.get('AnonPages')).toBe(650000 * 1024);
  });

  it('sums busy CPU ticks of /proc/stat into nanoseconds and reads btime', () => {
    const s = parseProcStat(fixture('proc/stat'));
    // user 501618 + nice 0 + system 178358 + irq 0 + softirq 2707 + steal 211 ticks of 10 ms
    expect(s.cpuUsageNanoSeconds).toBe((501618 + 178358 + 2707 + 211) * 10_000_000);
    expect(s.bootTimeSeconds).toBe(1767225600);
  });

  it('reads interface counters from /proc/net/dev', () => {
    const ifs = parseNetDev(fixture('proc/net/dev'));
    expect(ifs.map((i) => i.name)).toEqual(['lo', 'eth0', 'eth1', 'vethab12cd']);
    expect(ifs[1]).toEqual({
      name: 'eth0',
      rxBytes: 1967643399,
      rxPackets: 56123,
      rxErrors: 3,
      rxDropped: 0,
      txBytes: 6845002,
      txPackets: 42863,
      txErrors: 1,
      txDropped: 0,
    });
  });

  it('reads the task count from /proc/loadavg and flat keyed files', () => {
    expect(parseLoadavgTasks(fixture('proc/loadavg'))).toBe(197);
    expect(parseLoadavgTasks('garbage')).toBeUndefined();
    expect(parseFlatKeyed(fixture('cgroup-v2/cpu.stat')).get('usage_usec')).toBe(7_000_000_000);
    expect(parseSingleNumber('max\n')).toBeUndefined();
    expect(parseSingleNumber('42\n')).toBe(42);
  });
});
