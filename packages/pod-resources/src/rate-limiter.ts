import type { Clock } from '@nodeagent/core';

/**
 * Requests per second the kubelet lets through to the PodResources server
 * (`podresources.DefaultQPS` in pkg/kubelet/apis/podresources/grpc): 100.
 */
export const defaultPodResourcesQps = 100;

/**
 * Requests the kubelet lets through at once before the per-second rate applies
 * (`podresources.DefaultBurstTokens`): 10.
 */
export const defaultPodResourcesBurst = 10;

/** The status message of a request refused by the limiter (gRPC `RESOURCE_EXHAUSTED`), as the kubelet words it. */
export const rateLimitExceededMessage = 'rejected by rate limit';

/**
 * A token bucket like Go's `golang.org/x/time/rate.Limiter` as the kubelet uses it
 * for the PodResources server: it starts full with `burst` tokens, refills at `qps`
 * tokens per second up to `burst`, and {@link allow} spends one token or refuses.
 * Time comes from the injected clock (monotonic milliseconds).
 */
export class TokenBucketRateLimiter {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Pick<Clock, 'monotonicNow'>;
  private tokens: number;
  private last: number;

  /**
   * @param qps tokens added per second; `Infinity` lets everything through
   * @param burst bucket size; 0 refuses everything unless qps is `Infinity`
   */
  constructor(qps: number, burst: number, clock: Pick<Clock, 'monotonicNow'>) {
    if (!(qps >= 0) || !(burst >= 0)) {
      throw new RangeError(`invalid rate limit: qps ${qps}, burst ${burst}`);
    }
    this.qps = qps;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock.monotonicNow();
  }

  /** Takes one token when there is one (true); false means the request is to be refused. */
  allow(): boolean {
    if (this.qps === Infinity) return true;
    const now = this.clock.monotonicNow();
    const elapsedMs = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.qps) / 1000);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}
