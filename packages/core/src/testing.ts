/** Test doubles for core's contracts: a manually driven clock and an in-memory metrics registry. */
export { FakeClock } from './fake-clock.js';
export { InMemoryMetrics } from './in-memory-metrics.js';
