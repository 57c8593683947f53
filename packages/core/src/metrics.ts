import { createToken, type InjectionToken } from './token.js';

/** Label values of one metric series. */
export type MetricLabels = Readonly<Record<string, string>>;

/** Name, help text and label names of a metric (Prometheus conventions). */
export interface MetricOptions {
  /** Full metric name, e.g. `kubelet_pleg_relist_duration_seconds`. */
  name: string;
  help: string;
  labelNames?: readonly string[];
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds of the buckets; the implementation's defaults when omitted. */
  buckets?: readonly number[];
}

/** A monotonically increasing count. */
export interface Counter {
  inc(labels?: MetricLabels, value?: number): void;
}

/** A value that goes up and down. */
export interface Gauge {
  set(labels: MetricLabels, value: number): void;
  inc(labels?: MetricLabels, value?: number): void;
  dec(labels?: MetricLabels, value?: number): void;
}

/** A distribution of observed values (durations in seconds, sizes in bytes). */
export interface Histogram {
  observe(labels: MetricLabels, value: number): void;
}

/**
 * The metrics hook. Components ask it for their metrics once, at construction; a
 * Prometheus-backed implementation is wired by the agent, and {@link noopMetrics}
 * is the default, so components work without any metrics backend. Asking twice for
 * the same name returns the same metric.
 */
export interface MetricsRegistry {
  counter(options: MetricOptions): Counter;
  gauge(options: MetricOptions): Gauge;
  histogram(options: HistogramOptions): Histogram;
}
export const MetricsRegistry: InjectionToken<MetricsRegistry> =
  createToken<MetricsRegistry>('MetricsRegistry');

const noopSeries = { inc() {}, dec() {}, set() {}, observe() {} };

/** A MetricsRegistry that records nothing. */
export const noopMetrics: MetricsRegistry = {
  counter: () => noopSeries,
  gauge: () => noopSeries,
  histogram: () => noopSeries,
};
