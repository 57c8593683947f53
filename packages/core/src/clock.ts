import { createToken, type InjectionToken } from './token.js';

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void;
}

/**
 * The source of time for every nodeagent component. Components never call
 * `Date.now()` or the global timers directly, so tests can drive them with
 * {@link FakeClock} deterministically.
 */
export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch. */
  now(): number;
  /** Monotonic milliseconds with an arbitrary origin; use it to measure durations. */
  monotonicNow(): number;
  /** Runs `fn` once after `delayMs` milliseconds. */
  setTimeout(fn: () => void, delayMs: number): Timer;
  /** Runs `fn` every `periodMs` milliseconds until cancelled. */
  setInterval(fn: () => void, periodMs: number): Timer;
  /**
   * Resolves after `delayMs`; rejects with the signal's reason when `signal` aborts
   * first (and cancels the timer).
   */
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
}
export const Clock: InjectionToken<Clock> = createToken<Clock>('Clock');

/** Shared implementation of {@link Clock.sleep} on top of `setTimeout`. */
export function sleepOn(
  clock: Pick<Clock, 'setTimeout'>,
  delayMs: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(signal?.reason as Error);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The Clock of the real world: `Date.now()`, `performance.now()` and Node's timers. */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }

  monotonicNow(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, delayMs: number): Timer {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  }

  setInterval(fn: () => void, periodMs: number): Timer {
    const handle = setInterval(fn, Math.max(1, periodMs));
    return { cancel: () => clearInterval(handle) };
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, delayMs, signal);
  }
}
