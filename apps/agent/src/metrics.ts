/**
 * Metrics for the agent: core's `MetricsRegistry` on top of prom-client, so that
 * every component's metrics (`kubelet_runtime_operations_total`,
 * `kubelet_pleg_relist_duration_seconds`, `prober_probe_total`, …) are served in the
 * Prometheus text format on `/metrics`.
 */
import { InvalidArgumentError } from '@nodeagent/core';
import type {
  Counter,
  Gauge,
  Histogram,
  HistogramOptions,
  MetricLabels,
  MetricOptions,
  MetricsRegistry,
} from '@nodeagent/core';
import * as prom from 'prom-client';

type Kind = 'counter' | 'gauge' | 'histogram';

interface Entry {
  kind: Kind;
  labelNames: readonly string[];
  series: Counter | Gauge | Histogram;
  metric: prom.Metric;
}

/**
 * A MetricsRegistry backed by its own prom-client `Registry` (never the global one,
 * so two agents in one process do not collide). Asking twice for the same name
 * returns the same metric; asking for a name already registered as another kind, or
 * with other label names, throws `InvalidArgumentError` (Prometheus would reject the
 * duplicate).
 */
export class PromMetricsRegistry implements MetricsRegistry {
  /** The prom-client registry holding every metric. */
  readonly registry: prom.Registry;
  private readonly entries = new Map<string, Entry>();

  constructor(registry: prom.Registry = new prom.Registry()) {
    this.registry = registry;
  }

  counter(options: MetricOptions): Counter {
    return this.getOrCreate('counter', options, () => {
      const c = new prom.Counter({ ...this.base(options) });
      return {
        metric: c,
        series: {
          inc: (labels?: MetricLabels, value?: number) => c.inc({ ...labels }, value ?? 1),
        },
      };
    }) as Counter;
  }

  gauge(options: MetricOptions): Gauge {
    return this.getOrCreate('gauge', options, () => {
      const g = new prom.Gauge({ ...this.base(options) });
      return {
        metric: g,
        series: {
          set: (labels: MetricLabels, value: number) => g.set({ ...labels }, value),
          inc: (labels?: MetricLabels, value?: number) => g.inc({ ...labels }, value ?? 1),
          dec: (labels?: MetricLabels, value?: number) => g.dec({ ...labels }, value ?? 1),
        },
      };
    }) as Gauge;
  }

  histogram(options: HistogramOptions): Histogram {
    return this.getOrCreate('histogram', options, () => {
      const h = new prom.Histogram({
        ...this.base(options),
        ...(options.buckets ? { buckets: [...options.buckets] } : {}),
      });
      return {
        metric: h,
        series: {
          observe: (labels: MetricLabels, value: number) => h.observe({ ...labels }, value),
        },
      };
    }) as Histogram;
  }

  /** The Prometheus text exposition of every metric (the body of `/metrics`). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The `Content-Type` of {@link metrics}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private base(options: MetricOptions): prom.MetricConfiguration<string> {
    return {
      name: options.name,
      help: options.help,
      labelNames: [...(options.labelNames ?? [])],
      registers: [this.registry],
    };
  }

  private getOrCreate(
    kind: Kind,
    options: MetricOptions,
    create: () => { metric: prom.Metric; series: Counter | Gauge | Histogram },
  ): Counter | Gauge | Histogram {
    const labelNames = options.labelNames ?? [];
    const existing = this.entries.get(options.name);
    if (existing) {
      if (existing.kind !== kind) {
        throw new InvalidArgumentError(
          `metric ${options.name} is already registered as a ${existing.kind}, not a ${kind}`,
        );
      }
      const same =
        existing.labelNames.length === labelNames.length &&
        existing.labelNames.every((name) => labelNames.includes(name));
      if (!same) {
        throw new InvalidArgumentError(
          `metric ${options.name} is already registered with labels [${existing.labelNames.join(', ')}], not [${labelNames.join(', ')}]`,
        );
      }
      return existing.series;
    }
    const { metric, series } = create();
    this.entries.set(options.name, { kind, labelNames: [...labelNames], series, metric });
    return series;
  }
}

/** Creates a {@link PromMetricsRegistry} with a fresh prom-client registry. */
export function createPromMetricsRegistry(): PromMetricsRegistry {
  return new PromMetricsRegistry();
}
