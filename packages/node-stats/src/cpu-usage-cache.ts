/** One cumulative CPU sample: core-nanoseconds used, at a time in nanoseconds since the epoch. */
export interface CpuSample {
  usageCoreNanoSeconds: number;
  timestampNs: number;
}

interface Record {
  sample: CpuSample;
  usageNanoCores: number | undefined;
}

/** The kubelet's `defaultCachePeriod`: entries whose last sample is older are dropped. */
export const defaultCpuUsageCachePeriodMs = 10 * 60 * 1000;

/**
 * usageNanoCores from two cumulative samples, cached per key (container ID,
 * sandbox ID, `node`, system container name) like the kubelet's CRI stats provider
 * (`cpuUsageCache`): {@link update} stores a sample and computes the rate against
 * the previous one; {@link get} returns the last computed rate without sampling.
 * A counter that went backwards (a restarted container reusing the key) starts over.
 */
export class CpuUsageCache {
  private readonly records = new Map<string, Record>();

  constructor(private readonly cachePeriodMs = defaultCpuUsageCachePeriodMs) {}

  /**
   * Records `sample` for `key` and returns the rate since the previous sample in
   * nanocores (core-ns per second), or undefined when there is no usable previous
   * sample. A sample not newer than the cached one leaves the cache unchanged and
   * returns the cached rate.
   */
  update(key: string, sample: CpuSample): number | undefined {
    const cached = this.records.get(key);
    if (!cached || sample.usageCoreNanoSeconds < cached.sample.usageCoreNanoSeconds) {
      this.records.set(key, { sample, usageNanoCores: undefined });
      return undefined;
    }
    const intervalNs = sample.timestampNs - cached.sample.timestampNs;
    if (intervalNs <= 0) return cached.usageNanoCores;
    const usageNanoCores = Math.floor(
      ((sample.usageCoreNanoSeconds - cached.sample.usageCoreNanoSeconds) / intervalNs) * 1e9,
    );
    this.records.set(key, { sample, usageNanoCores });
    return usageNanoCores;
  }

  /** The last computed rate for `key`, undefined until two samples were recorded. */
  get(key: string): number | undefined {
    return this.records.get(key)?.usageNanoCores;
  }

  /** Drops entries whose last sample is older than the cache period (kubelet `cleanupOutdatedCaches`). */
  cleanup(nowMs: number): void {
    const oldestNs = (nowMs - this.cachePeriodMs) * 1e6;
    for (const [key, record] of this.records) {
      if (record.sample.timestampNs < oldestNs) this.records.delete(key);
    }
  }

  /** Number of cached keys. */
  get size(): number {
    return this.records.size;
  }
}
