import { describe, expect, it } from 'vitest';
import { CpuUsageCache } from './cpu-usage-cache.js';

const s = (usageCoreNanoSeconds: number, seconds: number) => ({
  usageCoreNanoSeconds,
  timestampNs: seconds * 1e9,
});

describe('CpuUsageCache', () => {
  it('computes nanocores from two samples', () => {
    const c = new CpuUsageCache();
    expect(c.update('a', s(1e9, 100))).toBeUndefined();
    expect(c.get('a')).toBeUndefined();
    // 5 core-seconds over 10 s = half a core
    expect(c.update('a', s(6e9, 110))).toBe(5e8);
    expect(c.get('a')).toBe(5e8);
    expect(c.update('a', s(26e9, 120))).toBe(2e9);
  });

  it('starts over when the counter goes backwards; keeps the rate for a non-newer sample', () => {
    const c = new CpuUsageCache();
    c.update('a', s(10e9, 100));
    expect(c.update('a', s(12e9, 102))).toBe(1e9);
    expect(c.update('a', s(13e9, 102))).toBe(1e9); // same timestamp: nothing to compute
    expect(c.update('a', s(1e9, 104))).toBeUndefined(); // restarted
    expect(c.update('a', s(2e9, 105))).toBe(1e9);
  });

  it('drops entries older than the cache period', () => {
    const c = new CpuUsageCache(60_000);
    c.update('old', s(1, 100));
    c.update('new', s(1, 150));
    c.cleanup(170_000);
    expect(c.size).toBe(1);
  });
});
