import type { Counter, Gauge, Histogram, MetricsRegistry } from '@nodeagent/core';

/** Prometheus' (and the kubelet's `metrics.DefBuckets`) default buckets, in seconds. */
export const defaultDurationBuckets: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The PLEG's metrics, under the kubelet's names. */
export interface PlegMetrics {
  /** `kubelet_pleg_relist_duration_seconds`: how long each relist took. */
  relistDuration: Histogram;
  /** `kubelet_pleg_relist_interval_seconds`: time between the starts of successful relists. */
  relistInterval: Histogram;
  /** `kubelet_pleg_last_seen_seconds`: Unix time (s) of the last successful relist. */
  lastSeen: Gauge;
  /** `kubelet_pleg_discard_events`: events dropped because a channel buffer was full. */
  discardEvents: Counter;
  /** `kubelet_evented_pleg_connection_error_count`: failed event streams. */
  eventedConnectionErrors: Counter;
  /** `kubelet_evented_pleg_connection_success_count`: event streams opened. */
  eventedConnectionSuccess: Counter;
}

/** Asks `registry` for the PLEG metrics (the same series on every call). */
export function plegMetrics(registry: MetricsRegistry): PlegMetrics {
  return {
    relistDuration: registry.histogram({
      name: 'kubelet_pleg_relist_duration_seconds',
      help: 'Duration in seconds for relisting pods in PLEG.',
      buckets: defaultDurationBuckets,
    }),
    relistInterval: registry.histogram({
      name: 'kubelet_pleg_relist_interval_seconds',
      help: 'Interval in seconds between relisting in PLEG.',
      buckets: defaultDurationBuckets,
    }),
    lastSeen: registry.gauge({
      name: 'kubelet_pleg_last_seen_seconds',
      help: 'Timestamp in seconds when PLEG was last seen active.',
    }),
    discardEvents: registry.counter({
      name: 'kubelet_pleg_discard_events',
      help: 'The number of discard events in PLEG.',
    }),
    eventedConnectionErrors: registry.counter({
      name: 'kubelet_evented_pleg_connection_error_count',
      help: 'The number of errors encountered during the establishment of streaming connection with the CRI runtime.',
    }),
    eventedConnectionSuccess: registry.counter({
      name: 'kubelet_evented_pleg_connection_success_count',
      help: 'The number of times a streaming client was obtained to receive CRI Events.',
    }),
  };
}
