import type { Clock } from '@nodeagent/core';

/**
 * A bounded cache whose entries expire after a per-entry TTL measured on the
 * injected Clock's monotonic time (the apiserver's `cache.LRUExpireCache`). When full,
 * the least recently used entry goes first.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  /** @param maxEntries bound of the cache (entries), at least 1. */
  constructor(
    private readonly clock: Clock,
    private readonly maxEntries: number,
  ) {}

  /** The live value for `key`, or undefined when absent or expired. */
  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.clock.monotonicNow()) {
      this.entries.delete(key);
      return undefined;
    }
    // refresh the LRU position
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Stores `value` for `ttlMs` milliseconds; a TTL of 0 or less stores nothing. */
  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.clock.monotonicNow() + ttlMs });
    while (this.entries.size > Math.max(1, this.maxEntries)) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Number of entries held (expired ones included until touched). */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
