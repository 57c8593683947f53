import type { StatsProvider, Summary } from '@nodeagent/core';

/** Content type of the Prometheus text exposition format 0.0.4. */
export const prometheusTextContentType = 'text/plain; version=0.0.4; charset=utf-8';

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: string[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

/**
 * Renders the kubelet's `/metrics/resource` (the `resourceMetricsCollector` of
 * `pkg/kubelet/metrics/collectors/resource_metrics.go`) from a CPU-and-memory
 * summary: `node_cpu_usage_seconds_total`, `node_memory_working_set_bytes`,
 * `node_swap_usage_bytes`, `container_cpu_usage_seconds_total`,
 * `container_memory_working_set_bytes`, `container_swap_usage_bytes`,
 * `container_start_time_seconds`, `pod_cpu_usage_seconds_total`,
 * `pod_memory_working_set_bytes`, `pod_swap_usage_bytes` and `scrape_error`
 * (1 when the stats could not be read). Samples carry the stats' timestamps (ms),
 * as the kubelet's do.
 */
export async function renderResourceMetrics(stats: StatsProvider): Promise<string> {
  let summary: Summary | undefined;
  try {
    summary = await stats.summary({ onlyCpuAndMemory: true });
  } catch {
    summary = undefined;
  }
  const fam = (name: string, help: string, type: Family['type']): Family => ({
    name,
    help,
    type,
    samples: [],
  });
  const nodeCpu = fam(
    'node_cpu_usage_seconds_total',
    '[STABLE] Cumulative cpu time consumed by the node in core-seconds',
    'counter',
  );
  const nodeMem = fam(
    'node_memory_working_set_bytes',
    '[STABLE] Current working set of the node in bytes',
    'gauge',
  );
  const nodeSwap = fam(
    'node_swap_usage_bytes',
    '[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems',
    'gauge',
  );
  const ctrCpu = fam(
    'container_cpu_usage_seconds_total',
    '[STABLE] Cumulative cpu time consumed by the container in core-seconds',
    'counter',
  );
  const ctrMem = fam(
    'container_memory_working_set_bytes',
    '[STABLE] Current working set of the container in bytes',
    'gauge',
  );
  const ctrSwap = fam(
    'container_swap_usage_bytes',
    '[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems',
    'gauge',
  );
  const ctrStart = fam(
    'container_start_time_seconds',
    '[STABLE] Start time of the container since unix epoch in seconds',
    'gauge',
  );
  const podCpu = fam(
    'pod_cpu_usage_seconds_total',
    '[STABLE] Cumulative cpu time consumed by the pod in core-seconds',
    'counter',
  );
  const podMem = fam(
    'pod_memory_working_set_bytes',
    '[STABLE] Current working set of the pod in bytes',
    'gauge',
  );
  const podSwap = fam(
    'pod_swap_usage_bytes',
    '[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems',
    'gauge',
  );
  const scrape = fam(
    'scrape_error',
    '[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise',
    'gauge',
  );
  // The STABLE successor of scrape_error; the kubelet's resource metrics e2e test needs it.
  const resourceScrape = fam(
    'resource_scrape_error',
    '[STABLE] 1 if there was an error while getting container metrics, 0 otherwise',
    'gauge',
  );

  const ts = (t: string | undefined): string => {
    const ms = t === undefined ? Number.NaN : Date.parse(t);
    return Number.isNaN(ms) ? '' : ` ${ms}`;
  };
  const add = (
    f: Family,
    l: Record<string, string>,
    v: number | undefined,
    time?: string,
  ): void => {
    if (v === undefined) return;
    f.samples.push(`${f.name}${labels(l)} ${fmt(v)}${ts(time)}`);
  };

  if (summary) {
    const n = summary.node;
    add(nodeCpu, {}, nanosToSeconds(n.cpu?.usageCoreNanoSeconds), n.cpu?.time);
    add(nodeMem, {}, n.memory?.workingSetBytes, n.memory?.time);
    add(nodeSwap, {}, n.swap?.swapUsageBytes, n.swap?.time);
    for (const p of summary.pods) {
      const pl = { namespace: p.podRef.namespace, pod: p.podRef.name };
      add(podCpu, pl, nanosToSeconds(p.cpu?.usageCoreNanoSeconds), p.cpu?.time);
      add(podMem, pl, p.memory?.workingSetBytes, p.memory?.time);
      add(podSwap, pl, p.swap?.swapUsageBytes, p.swap?.time);
      for (const c of p.containers) {
        const cl = { container: c.name, namespace: p.podRef.namespace, pod: p.podRef.name };
        const start = Date.parse(c.startTime);
        if (!Number.isNaN(start)) add(ctrStart, cl, start / 1000);
        add(ctrCpu, cl, nanosToSeconds(c.cpu?.usageCoreNanoSeconds), c.cpu?.time);
        add(ctrMem, cl, c.memory?.workingSetBytes, c.memory?.time);
        add(ctrSwap, cl, c.swap?.swapUsageBytes, c.swap?.time);
      }
    }
  }
  add(scrape, {}, summary ? 0 : 1);
  add(resourceScrape, {}, summary ? 0 : 1);

  const out: string[] = [];
  for (const f of [
    ctrCpu,
    ctrMem,
    ctrStart,
    ctrSwap,
    nodeCpu,
    nodeMem,
    nodeSwap,
    podCpu,
    podMem,
    podSwap,
    resourceScrape,
    scrape,
  ]) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples);
  }
  return out.join('\n') + '\n';
}

function nanosToSeconds(n: number | undefined): number | undefined {
  return n === undefined ? undefined : n / 1e9;
}
