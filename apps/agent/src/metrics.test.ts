import { InvalidArgumentError } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { PromMetricsRegistry } from './metrics.js';

describe('PromMetricsRegistry', () => {
  it('counters, gauges and histograms appear in the Prometheus exposition', async () => {
    const m = new PromMetricsRegistry();
    const ops = m.counter({
      name: 'kubelet_runtime_operations_total',
      help: 'Cumulative number of runtime operations by operation type.',
      labelNames: ['operation_type'],
    });
    ops.inc({ operation_type: 'list_containers' });
    ops.inc({ operation_type: 'list_containers' }, 2);
    const running = m.gauge({ name: 'kubelet_running_pods', help: 'Number of pods running.' });
    running.set({}, 5);
    running.inc();
    running.dec(undefined, 3);
    const relist = m.histogram({
      name: 'kubelet_pleg_relist_duration_seconds',
      help: 'Duration in seconds for relisting pods in PLEG.',
      buckets: [0.005, 0.01, 0.1],
    });
    relist.observe({}, 0.007);
    relist.observe({}, 0.5);

    const text = await m.metrics();
    expect(text).toContain('# TYPE kubelet_runtime_operations_total counter');
    expect(text).toContain('kubelet_runtime_operations_total{operation_type="list_containers"} 3');
    expect(text).toContain('kubelet_running_pods 3');
    expect(text).toContain('# TYPE kubelet_pleg_relist_duration_seconds histogram');
    expect(text).toContain('kubelet_pleg_relist_duration_seconds_bucket{le="0.005"} 0');
    expect(text).toContain('kubelet_pleg_relist_duration_seconds_bucket{le="0.01"} 1');
    expect(text).toContain('kubelet_pleg_relist_duration_seconds_bucket{le="+Inf"} 2');
    expect(text).toContain('kubelet_pleg_relist_duration_seconds_count 2');
    expect(m.contentType).toContain('text/plain');
  });

  it('the same name returns the same metric', async () => {
    const m = new PromMetricsRegistry();
    const a = m.counter({ name: 'x_total', help: 'x', labelNames: ['a', 'b'] });
    const b = m.counter({ name: 'x_total', help: 'x', labelNames: ['b', 'a'] });
    expect(b).toBe(a);
    a.inc({ a: '1', b: '2' });
    b.inc({ a: '1', b: '2' });
    expect(await m.metrics()).toContain('x_total{a="1",b="2"} 2');
    expect(m.histogram({ name: 'h', help: 'h' })).toBe(m.histogram({ name: 'h', help: 'h' }));
    expect(m.gauge({ name: 'g', help: 'g' })).toBe(m.gauge({ name: 'g', help: 'g' }));
  });

  it('a name reused with another kind or other labels is an error', () => {
    const m = new PromMetricsRegistry();
    m.counter({ name: 'y_total', help: 'y', labelNames: ['a'] });
    expect(() => m.gauge({ name: 'y_total', help: 'y' })).toThrow(InvalidArgumentError);
    expect(() => m.gauge({ name: 'y_total', help: 'y' })).toThrow(
      'already registered as a counter, not a gauge',
    );
    expect(() => m.counter({ name: 'y_total', help: 'y', labelNames: ['b'] })).toThrow(
      'already registered with labels [a], not [b]',
    );
  });

  it('registries are independent', async () => {
    const one = new PromMetricsRegistry();
    const two = new PromMetricsRegistry();
    one.counter({ name: 'z_total', help: 'z' }).inc();
    two.counter({ name: 'z_total', help: 'z' });
    expect(await one.metrics()).toContain('z_total 1');
    expect(await two.metrics()).toContain('z_total 0');
  });

  it('histograms use prom-client default buckets when none are given', async () => {
    const m = new PromMetricsRegistry();
    m.histogram({ name: 'd_seconds', help: 'd' }).observe({}, 1);
    expect(await m.metrics()).toContain('d_seconds_bucket{le="0.005"} 0');
  });
});
