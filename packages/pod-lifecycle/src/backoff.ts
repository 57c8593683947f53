import type { Clock } from '@nodeagent/core';

/** CrashLoopBackOff: first delay 10 s (kubelet `initialBackoff`). */
export const containerBackOffInitialMs = 10_000;
/** CrashLoopBackOff: the delay doubles up to 300 s (kubelet `MaxContainerBackOff`). */
export const containerBackOffMaxMs = 300_000;
/** Image pull back-off: 10 s doubling to 300 s, as the kubelet's image back-off. */
export const imagePullBackOffInitialMs = 10_000;
export const imagePullBackOffMaxMs = 300_000;

interface Entry {
  backoffMs: number;
  lastUpdateMs: number;
}

/**
 * Per-key exponential back-off (client-go `flowcontrol.Backoff`, as the kubelet uses it
 * for container restarts and image pulls). `next()` starts at the initial delay and
 * doubles up to the maximum; an entry untouched for twice the maximum (10 min for
 * containers) starts over.
 */
export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    readonly initialMs: number,
    readonly maxMs: number,
  ) {}

  /** Moves the key's back-off forward at `eventTimeMs` (default now) and returns the new delay. */
  next(key: string, eventTimeMs: number = this.clock.now()): number {
    const entry = this.entries.get(key);
    if (!entry || this.expired(entry, eventTimeMs)) {
      this.entries.set(key, { backoffMs: this.initialMs, lastUpdateMs: eventTimeMs });
      return this.initialMs;
    }
    entry.backoffMs = Math.min(entry.backoffMs * 2, this.maxMs);
    entry.lastUpdateMs = eventTimeMs;
    return entry.backoffMs;
  }

  /** The key's current delay, 0 when it has none. */
  get(key: string): number {
    return this.entries.get(key)?.backoffMs ?? 0;
  }

  /**
   * Whether, now, we are still inside the back-off window that started at `eventTimeMs`
   * (the container's finish time): `now - eventTime < current delay`.
   */
  isInBackOffSince(key: string, eventTimeMs: number): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    const now = this.clock.now();
    if (this.expired(entry, now)) return false;
    return now - eventTimeMs < entry.backoffMs;
  }

  /** Milliseconds until the back-off window that started at `eventTimeMs` ends (0 when over). */
  remainingSince(key: string, eventTimeMs: number): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    return Math.max(0, eventTimeMs + entry.backoffMs - this.clock.now());
  }

  /** Milliseconds left of the delay counted from the key's last update (0 when none). */
  remainingSinceUpdate(key: string): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    const now = this.clock.now();
    if (this.expired(entry, now)) return 0;
    return Math.max(0, entry.lastUpdateMs + entry.backoffMs - now);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Drops entries that have expired (kubelet runs this periodically). */
  gc(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (this.expired(entry, now)) this.entries.delete(key);
    }
  }

  private expired(entry: Entry, now: number): boolean {
    return now - entry.lastUpdateMs > 2 * this.maxMs;
  }
}
