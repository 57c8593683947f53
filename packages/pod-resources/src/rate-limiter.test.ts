import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import {
  TokenBucketRateLimiter,
  defaultPodResourcesBurst,
  defaultPodResourcesQps,
} from './rate-limiter.js';

const take = (l: TokenBucketRateLimiter, n: number): boolean[] =>
  Array.from({ length: n }, () => l.allow());

describe('TokenBucketRateLimiter (x/time/rate as the kubelet uses it)', () => {
  it('has the kubelet defaults: 100 qps, burst 10', () => {
    expect(defaultPodResourcesQps).toBe(100);
    expect(defaultPodResourcesBurst).toBe(10);
  });

  it('starts full: lets the burst through at once, then refuses', () => {
    const clock = new FakeClock();
    const l = new TokenBucketRateLimiter(100, 10, clock);
    expect(take(l, 10)).toEqual(Array(10).fill(true));
    expect(l.allow()).toBe(false);
    expect(l.allow()).toBe(false);
  });

  it('refills at qps: one token every 10 ms at 100 qps', async () => {
    const clock = new FakeClock();
    const l = new TokenBucketRateLimiter(100, 10, clock);
    take(l, 10);
    await clock.advance(9);
    expect(l.allow()).toBe(false);
    await clock.advance(1);
    expect(l.allow()).toBe(true);
    expect(l.allow()).toBe(false);
    await clock.advance(30);
    expect(take(l, 4)).toEqual([true, true, true, false]);
  });

  it('never holds more than the burst, however long it was idle', async () => {
    const clock = new FakeClock();
    const l = new TokenBucketRateLimiter(100, 10, clock);
    await clock.advance(60_000);
    expect(take(l, 11).filter(Boolean)).toHaveLength(10);
  });

  it('sustains exactly qps over a second of steady calls', async () => {
    const clock = new FakeClock();
    const l = new TokenBucketRateLimiter(100, 10, clock);
    take(l, 10);
    let allowed = 0;
    for (let ms = 0; ms < 1000; ms++) {
      await clock.advance(1);
      if (l.allow()) allowed++;
      l.allow(); // a second caller in the same millisecond
    }
    expect(allowed).toBeGreaterThanOrEqual(99);
    expect(allowed).toBeLessThanOrEqual(100);
  });

  it('Infinity lets everything through; burst 0 with finite qps refuses everything', () => {
    const clock = new FakeClock();
    expect(take(new TokenBucketRateLimiter(Infinity, 0, clock), 1000).every(Boolean)).toBe(true);
    expect(take(new TokenBucketRateLimiter(100, 0, clock), 5).some(Boolean)).toBe(false);
  });

  it('rejects negative or NaN settings', () => {
    const clock = new FakeClock();
    expect(() => new TokenBucketRateLimiter(-1, 10, clock)).toThrow(RangeError);
    expect(() => new TokenBucketRateLimiter(100, Number.NaN, clock)).toThrow(RangeError);
  });
});
