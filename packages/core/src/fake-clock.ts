import { sleepOn, type Clock, type Timer } from './clock.js';

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
  periodMs: number | undefined;
  cancelled: boolean;
}

/** Lets every pending promise continuation run: one trip through the macrotask queue. */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A manually driven {@link Clock} for tests. Time stands still until the test calls
 * {@link FakeClock.advance}, which fires due timers in order (ties in scheduling
 * order) and lets the promise continuations they start run before the next timer.
 */
export class FakeClock implements Clock {
  private wall: number;
  private mono = 0;
  private seq = 0;
  private timers: Scheduled[] = [];

  /** @param startMs initial wall-clock time (ms since epoch); default 2026-01-01T00:00:00Z. */
  constructor(startMs: number = Date.UTC(2026, 0, 1)) {
    this.wall = startMs;
  }

  now(): number {
    return this.wall;
  }

  monotonicNow(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, delayMs: number): Timer {
    return this.schedule(fn, Math.max(0, delayMs), undefined);
  }

  setInterval(fn: () => void, periodMs: number): Timer {
    const period = Math.max(1, periodMs);
    return this.schedule(fn, period, period);
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, delayMs, signal);
  }

  /** Number of timers waiting to fire. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Milliseconds until the next timer fires, or undefined when none is pending. */
  nextTimerDelay(): number | undefined {
    const next = this.peek();
    return next === undefined ? undefined : next.at - this.mono;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, each
   * at its own instant, and flushing promise continuations after each one.
   */
  async advance(ms: number): Promise<void> {
    const target = this.mono + Math.max(0, ms);
    await flushMicrotasks();
    for (;;) {
      const next = this.peek();
      if (next === undefined || next.at > target) break;
      this.moveTo(next.at);
      if (next.periodMs === undefined) {
        next.cancelled = true;
      } else {
        next.at += next.periodMs;
      }
      next.fn();
      await flushMicrotasks();
    }
    this.moveTo(target);
    await flushMicrotasks();
  }

  /** Fires the next pending timer (advancing time to it); false when none is pending. */
  async runNext(): Promise<boolean> {
    const delay = this.nextTimerDelay();
    if (delay === undefined) return false;
    await this.advance(delay);
    return true;
  }

  /** Sets the wall clock without firing timers (simulates an NTP step). */
  setWallTime(ms: number): void {
    this.wall = ms;
  }

  /** Yields until pending promise continuations have run, without moving time. */
  flush(): Promise<void> {
    return flushMicrotasks();
  }

  private moveTo(mono: number): void {
    this.wall += mono - this.mono;
    this.mono = mono;
  }

  private peek(): Scheduled | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    let best: Scheduled | undefined;
    for (const t of this.timers) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private schedule(fn: () => void, delayMs: number, periodMs: number | undefined): Timer {
    const entry: Scheduled = {
      at: this.mono + delayMs,
      seq: this.seq++,
      fn,
      periodMs,
      cancelled: false,
    };
    this.timers.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }
}
