import type {
  CachedPodStatus,
  GetNewerThanOptions,
  PodStatusCache,
  RuntimePodStatus,
} from '@nodeagent/core';

/** Options of {@link InMemoryPodStatusCache}. */
export interface PodStatusCacheOptions {
  /**
   * Refuse a `set` whose timestamp is older than the cached entry's (the kubelet's
   * cache does this when EventedPLEG is on, so a late relist cannot overwrite a
   * newer event). Default false.
   */
  rejectStaleUpdates?: boolean;
}

interface Waiter {
  minTimeMs: number;
  resolve: (value: CachedPodStatus) => void;
}

/** The empty status of a pod nobody has seen (the kubelet's `makeDefaultData`). */
export function emptyPodStatus(podUid: string): RuntimePodStatus {
  return {
    id: podUid,
    name: '',
    namespace: '',
    ips: [],
    sandboxStatuses: [],
    containerStatuses: [],
  };
}

/**
 * The pod status cache in memory: the kubelet's `kubecontainer.cache`, including its
 * `GetNewerThan` rules — an entry is handed out when it was modified after the
 * requested time or when the global timestamp (set after each relist) passed it;
 * waiters are woken by `set` for their pod and by `updateTime` for everyone.
 */
export class InMemoryPodStatusCache implements PodStatusCache {
  private readonly pods = new Map<string, CachedPodStatus>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private globalTimestampMs: number | undefined;
  private readonly rejectStaleUpdates: boolean;

  constructor(options: PodStatusCacheOptions = {}) {
    this.rejectStaleUpdates = options.rejectStaleUpdates ?? false;
  }

  get(podUid: string): CachedPodStatus {
    return this.pods.get(podUid) ?? this.defaultEntry(podUid);
  }

  getNewerThan(
    podUid: string,
    minTimeMs: number,
    options: GetNewerThanOptions = {},
  ): Promise<CachedPodStatus> {
    const ready = this.getIfNewerThan(podUid, minTimeMs);
    if (ready) return Promise.resolve(ready);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<CachedPodStatus>((resolve, reject) => {
      let set = this.waiters.get(podUid);
      if (!set) {
        set = new Set();
        this.waiters.set(podUid, set);
      }
      const waiters = set;
      const onAbort = (): void => {
        waiters.delete(waiter);
        if (waiters.size === 0) this.waiters.delete(podUid);
        reject(signal?.reason as Error);
      };
      const waiter: Waiter = {
        minTimeMs,
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
      };
      waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  set(
    podUid: string,
    status: RuntimePodStatus,
    error: Error | undefined,
    timestampMs: number,
  ): boolean {
    const cached = this.pods.get(podUid);
    if (this.rejectStaleUpdates && cached && cached.timestampMs > timestampMs) return false;
    this.pods.set(podUid, { status, error, timestampMs });
    this.notify(podUid, timestampMs);
    return true;
  }

  delete(podUid: string): void {
    this.pods.delete(podUid);
  }

  updateTime(timestampMs: number): void {
    this.globalTimestampMs = timestampMs;
    for (const podUid of [...this.waiters.keys()]) this.notify(podUid, timestampMs);
  }

  /** The global timestamp (ms), undefined before the first `updateTime`. */
  globalTimestamp(): number | undefined {
    return this.globalTimestampMs;
  }

  /** Pod UIDs in the cache. */
  podUids(): string[] {
    return [...this.pods.keys()];
  }

  /** Number of pending `getNewerThan` waiters (for tests and leak checks). */
  pendingWaiters(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  private defaultEntry(podUid: string): CachedPodStatus {
    return { status: emptyPodStatus(podUid), error: undefined, timestampMs: 0 };
  }

  private getIfNewerThan(podUid: string, minTimeMs: number): CachedPodStatus | undefined {
    const cached = this.pods.get(podUid);
    const globalIsNewer =
      this.globalTimestampMs !== undefined && this.globalTimestampMs > minTimeMs;
    if (!cached) return globalIsNewer ? this.defaultEntry(podUid) : undefined;
    if (cached.timestampMs > minTimeMs || globalIsNewer) return cached;
    return undefined;
  }

  /** Wakes the pod's waiters whose time `timestampMs` reached (kubelet: not Before). */
  private notify(podUid: string, timestampMs: number): void {
    const set = this.waiters.get(podUid);
    if (!set) return;
    for (const waiter of [...set]) {
      if (timestampMs < waiter.minTimeMs) continue;
      set.delete(waiter);
      waiter.resolve(this.get(podUid));
    }
    if (set.size === 0) this.waiters.delete(podUid);
  }
}

/** Creates an {@link InMemoryPodStatusCache}. */
export function createPodStatusCache(options: PodStatusCacheOptions = {}): InMemoryPodStatusCache {
  return new InMemoryPodStatusCache(options);
}
