import type {
  Counter,
  Gauge,
  Histogram,
  HistogramOptions,
  MetricLabels,
  MetricOptions,
  MetricsRegistry,
} from './metrics.js';

function seriesKey(labels: MetricLabels | undefined): string {
  if (!labels) return '';
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

interface Series {
  kind: 'counter' | 'gauge' | 'histogram';
  values: Map<string, number>;
  observations: Map<string, number[]>;
}

/**
 * A MetricsRegistry that keeps every value in memory, for tests and for embedders
 * that want to read metrics without Prometheus.
 */
export class InMemoryMetrics implements MetricsRegistry {
  private readonly series = new Map<string, Series>();

  counter(options: MetricOptions): Counter {
    const s = this.get(options.name, 'counter');
    return {
      inc: (labels, value = 1) => this.add(s, labels, value),
    };
  }

  gauge(options: MetricOptions): Gauge {
    const s = this.get(options.name, 'gauge');
    return {
      set: (labels, value) => {
        s.values.set(seriesKey(labels), value);
      },
      inc: (labels, value = 1) => this.add(s, labels, value),
      dec: (labels, value = 1) => this.add(s, labels, -value),
    };
  }

  histogram(options: HistogramOptions): Histogram {
    const s = this.get(options.name, 'histogram');
    return {
      observe: (labels, value) => {
        const key = seriesKey(labels);
        const list = s.observations.get(key) ?? [];
        list.push(value);
        s.observations.set(key, list);
      },
    };
  }

  /** Current value of a counter or gauge series (0 when never touched). */
  value(name: string, labels?: MetricLabels): number {
    return this.series.get(name)?.values.get(seriesKey(labels)) ?? 0;
  }

  /** Values observed by a histogram series, in order. */
  observations(name: string, labels?: MetricLabels): readonly number[] {
    return this.series.get(name)?.observations.get(seriesKey(labels)) ?? [];
  }

  /** Names of all metrics created so far. */
  names(): string[] {
    return [...this.series.keys()].sort();
  }

  private add(s: Series, labels: MetricLabels | undefined, value: number): void {
    const key = seriesKey(labels);
    s.values.set(key, (s.values.get(key) ?? 0) + value);
  }

  private get(name: string, kind: Series['kind']): Series {
    let s = this.series.get(name);
    if (!s) {
      s = { kind, values: new Map(), observations: new Map() };
      this.series.set(name, s);
    } else if (s.kind !== kind) {
      throw new Error(`metric ${name} already registered as a ${s.kind}`);
    }
    return s;
  }
}
