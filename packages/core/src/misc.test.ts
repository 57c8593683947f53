import { describe, expect, it } from 'vitest';
import { InMemoryMetrics } from './in-memory-metrics.js';
import { noopLogger } from './logger.js';
import { noopMetrics } from './metrics.js';
import { jitter } from './random.js';
import { createToken, resolveToken } from './token.js';

describe('tokens', () => {
  it('are global symbols named nodeagent.<name>, equal across calls', () => {
    const a = createToken<number>('Thing');
    expect(a).toBe(Symbol.for('nodeagent.Thing'));
    expect(createToken<number>('Thing')).toBe(a);
    const container = { resolve: (t: symbol) => (t === a ? 42 : 0) } as Parameters<
      typeof resolveToken
    >[0];
    expect(resolveToken(container, a)).toBe(42);
  });
});

describe('jitter', () => {
  it('stays within [base, base * (1 + factor))', () => {
    expect(jitter(1_000, 0.5, { float: () => 0 })).toBe(1_000);
    expect(jitter(1_000, 0.5, { float: () => 0.999 })).toBeCloseTo(1_499.5);
    // a non-positive factor means 1.0, as in the kubelet's wait.Jitter
    expect(jitter(1_000, 0, { float: () => 0.5 })).toBe(1_500);
  });
});

describe('InMemoryMetrics', () => {
  it('keeps counters, gauges and histograms per label set', () => {
    const m = new InMemoryMetrics();
    const c = m.counter({ name: 'c_total', help: 'h', labelNames: ['a'] });
    c.inc({ a: '1' });
    c.inc({ a: '1' }, 2);
    c.inc({ a: '2' });
    expect(m.value('c_total', { a: '1' })).toBe(3);
    expect(m.value('c_total', { a: '2' })).toBe(1);
    const g = m.gauge({ name: 'g', help: 'h' });
    g.set({}, 5);
    g.dec();
    expect(m.value('g')).toBe(4);
    const h = m.histogram({ name: 'h_seconds', help: 'h' });
    h.observe({ x: 'y' }, 0.5);
    h.observe({ x: 'y' }, 1.5);
    expect(m.observations('h_seconds', { x: 'y' })).toEqual([0.5, 1.5]);
    expect(m.names()).toEqual(['c_total', 'g', 'h_seconds']);
    expect(() => m.gauge({ name: 'c_total', help: 'h' })).toThrow(/already registered/);
  });

  it('no-op implementations accept every call', () => {
    noopMetrics.counter({ name: 'x', help: '' }).inc();
    noopMetrics.histogram({ name: 'y', help: '' }).observe({}, 1);
    noopLogger.child({ a: 1 }).info('hello', { b: 2 });
  });
});
