import { CancelledError, type Clock, type Timer } from '@nodeagent/core';

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new CancelledError('aborted');
}

/**
 * A token bucket (client-go `flowcontrol.NewTokenBucketRateLimiter`): `qps` tokens
 * a second refill a bucket of `burst` tokens; each request takes one, waiting in
 * FIFO order when the bucket is empty. The kubelet limits its API client with
 * `kubeAPIQPS` 50 / `kubeAPIBurst` 100 and its event recorder with
 * `eventRecordQPS` 50 / `eventBurst` 100.
 */
export class TokenBucketRateLimiter {
  private tokens: number;
  private lastRefillMs: number;
  private readonly waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private timer: Timer | undefined;

  /**
   * @param qps tokens added per second; `0` or less disables limiting.
   * @param burst bucket size (at least 1).
   */
  constructor(
    private readonly clock: Clock,
    readonly qps: number,
    readonly burst: number,
  ) {
    this.tokens = Math.max(1, burst);
    this.lastRefillMs = clock.now();
  }

  /** Takes a token now if one is there (client-go `TryAccept`). */
  tryAccept(): boolean {
    if (this.qps <= 0) return true;
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Waits for a token (client-go `Wait`); rejects when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.tryAccept()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortReason(signal));
        },
        { once: true },
      );
      this.schedule();
    });
  }

  /** Requests waiting for a token. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Rejects every waiter and cancels the refill timer. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.reject(new CancelledError('rate limiter stopped'));
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.lastRefillMs);
    this.lastRefillMs = now;
    this.tokens = Math.min(Math.max(1, this.burst), this.tokens + (elapsed * this.qps) / 1000);
  }

  private schedule(): void {
    if (this.timer || this.waiters.length === 0) return;
    this.refill();
    const missing = Math.max(0, 1 - this.tokens);
    const delayMs = Math.max(1, Math.ceil((missing * 1000) / this.qps));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiters.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        this.waiters.shift()?.resolve();
      }
      this.schedule();
    }, delayMs);
  }
}
