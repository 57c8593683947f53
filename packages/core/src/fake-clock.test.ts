import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';

describe('FakeClock', () => {
  it('fires timers in due order, ties in scheduling order, each at its own instant', async () => {
    const clock = new FakeClock(1_000);
    const seen: Array<[string, number]> = [];
    clock.setTimeout(() => seen.push(['b', clock.now()]), 20);
    clock.setTimeout(() => seen.push(['a', clock.now()]), 10);
    clock.setTimeout(() => seen.push(['c', clock.now()]), 20);
    await clock.advance(15);
    expect(seen).toEqual([['a', 1_010]]);
    await clock.advance(10);
    expect(seen).toEqual([
      ['a', 1_010],
      ['b', 1_020],
      ['c', 1_020],
    ]);
    expect(clock.now()).toBe(1_025);
    expect(clock.monotonicNow()).toBe(25);
  });

  it('repeats intervals until cancelled', async () => {
    const clock = new FakeClock();
    let ticks = 0;
    const timer = clock.setInterval(() => ticks++, 1_000);
    await clock.advance(3_500);
    expect(ticks).toBe(3);
    timer.cancel();
    await clock.advance(10_000);
    expect(ticks).toBe(3);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('runs promise continuations between timers, so a timer scheduled from one fires in the same advance', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        fired.push(clock.monotonicNow());
      }
    };
    const done = loop();
    await clock.advance(300);
    await done;
    expect(fired).toEqual([100, 200, 300]);
  });

  it('sleep rejects with the abort reason and cancels its timer', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const p = clock.sleep(1_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(clock.pendingTimers()).toBe(0);
    await expect(clock.sleep(5, ac.signal)).rejects.toThrow('stop');
  });

  it('reports the next timer delay and runs timers one at a time', async () => {
    const clock = new FakeClock();
    expect(clock.nextTimerDelay()).toBeUndefined();
    let fired = 0;
    clock.setTimeout(() => fired++, 50);
    expect(clock.nextTimerDelay()).toBe(50);
    expect(await clock.runNext()).toBe(true);
    expect(fired).toBe(1);
    expect(await clock.runNext()).toBe(false);
  });

  it('setWallTime steps the wall clock only', () => {
    const clock = new FakeClock(0);
    clock.setWallTime(5_000);
    expect(clock.now()).toBe(5_000);
    expect(clock.monotonicNow()).toBe(0);
  });
});
