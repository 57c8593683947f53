import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { Backoff, containerBackOffInitialMs, containerBackOffMaxMs } from './backoff.js';

describe('Backoff (CrashLoopBackOff schedule)', () => {
  it('starts at 10 s and doubles up to 300 s', () => {
    const clock = new FakeClock();
    const b = new Backoff(clock, containerBackOffInitialMs, containerBackOffMaxMs);
    const delays = Array.from({ length: 8 }, () => b.next('k'));
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('is in back-off only inside the window that started at the event time', async () => {
    const clock = new FakeClock();
    const b = new Backoff(clock, 10_000, 300_000);
    const finishedAt = clock.now();
    b.next('k', finishedAt);
    expect(b.isInBackOffSince('k', finishedAt)).toBe(true);
    expect(b.remainingSince('k', finishedAt)).toBe(10_000);
    await clock.advance(9_999);
    expect(b.isInBackOffSince('k', finishedAt)).toBe(true);
    await clock.advance(1);
    expect(b.isInBackOffSince('k', finishedAt)).toBe(false);
    expect(b.remainingSince('k', finishedAt)).toBe(0);
    expect(b.isInBackOffSince('other', finishedAt)).toBe(false);
  });

  it('starts over after 10 minutes (twice the maximum) without an update', async () => {
    const clock = new FakeClock();
    const b = new Backoff(clock, 10_000, 300_000);
    b.next('k');
    b.next('k');
    expect(b.get('k')).toBe(20_000);
    await clock.advance(600_000);
    expect(b.next('k')).toBe(40_000); // exactly 10 min: not yet expired
    await clock.advance(600_001);
    expect(b.next('k')).toBe(10_000);
    await clock.advance(600_001);
    b.gc();
    expect(b.get('k')).toBe(0);
  });

  it('reset forgets the key', () => {
    const b = new Backoff(new FakeClock(), 10_000, 300_000);
    b.next('k');
    b.next('k');
    b.reset('k');
    expect(b.next('k')).toBe(10_000);
  });
});
