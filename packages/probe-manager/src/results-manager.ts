import type {
  k8s,
  ProbeResult,
  ProbeResultsManager,
  ProbeResultUpdate,
  ProbeType,
  Unsubscribe,
} from '@nodeagent/core';

/**
 * The in-memory results cache of one probe kind (kubelet `results.manager`): a map from
 * container id to result, publishing an update to subscribers whenever a result is
 * set for the first time or changes. Listeners run synchronously; a throwing
 * listener is reported through `onListenerError` and does not stop the others.
 */
export class ResultsManager implements ProbeResultsManager {
  private readonly cache = new Map<string, ProbeResult>();
  private readonly listeners = new Set<(update: ProbeResultUpdate) => void>();

  constructor(
    readonly probeType: ProbeType,
    private readonly onListenerError: (err: unknown) => void = () => {},
  ) {}

  get(containerId: string): ProbeResult | undefined {
    return this.cache.get(containerId);
  }

  set(containerId: string, result: ProbeResult, pod: k8s.Pod, containerName: string): void {
    if (this.cache.get(containerId) === result) return;
    this.cache.set(containerId, result);
    const update: ProbeResultUpdate = {
      probeType: this.probeType,
      containerId,
      result,
      podUid: pod.metadata.uid ?? '',
      podName: pod.metadata.name ?? '',
      namespace: pod.metadata.namespace ?? '',
      containerName,
    };
    for (const listener of [...this.listeners]) {
      try {
        listener(update);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  remove(containerId: string): void {
    this.cache.delete(containerId);
  }

  subscribe(listener: (update: ProbeResultUpdate) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Number of containers with a cached result. */
  size(): number {
    return this.cache.size;
  }
}
