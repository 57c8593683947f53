/**
 * Event recorder benchmark (not run in CI): writes events to the in-process testkit
 * API server (TLS, loopback) through ApiEventRecorder and, as the bare baseline in
 * the same run, through direct `createNamespacedEvent` calls. Prints medians/p99 and
 * ratios and writes /work/main/.bench-results/kube-client-events.json.
 *
 *   cd packages/kube-client && npx tsx bench/event-recorder.bench.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { RealClock } from '@nodeagent/core';
import { startTestApiServer } from '@nodeagent/testkit';
import { EventCorrelator, type CoreEvent } from '../src/event-correlator.js';
import { createApiEventRecorder } from '../src/event-recorder.js';
import { createKubeApi } from '../src/kube-api.js';

const events = 400;
const rounds = 3;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
function summary(values: number[]): { median: number; p99: number } {
  const s = [...values].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p99: quantile(s, 0.99) };
}

async function main(): Promise<void> {
  const clock = new RealClock();
  const server = await startTestApiServer({ tls: true });
  server.store.create(server.store.resource('namespaces'), '', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'bench' },
  });
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:bench', groups: ['system:nodes'] }),
    ),
  );
  const api = createKubeApi(kc, { qps: 0, clock });
  const ref = (i: number) => ({
    kind: 'Pod',
    apiVersion: 'v1',
    namespace: 'bench',
    name: `p${i}`,
    uid: `u${i}`,
  });

  const baselinePerEvent: number[] = [];
  const recorderPerEvent: number[] = [];
  const baselineTotal: number[] = [];
  const recorderTotal: number[] = [];
  const enqueue: number[] = [];
  let seq = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      // Baseline: sequential direct creates, the same body the recorder writes.
      let t0 = performance.now();
      for (let i = 0; i < events; i++) {
        const s = performance.now();
        const now = new Date();
        await api.core.createNamespacedEvent({
          namespace: 'bench',
          body: {
            metadata: { name: `base.${(seq++).toString(16)}`, namespace: 'bench' },
            involvedObject: ref(i),
            reason: 'Created',
            message: `Created container c${round}`,
            type: 'Normal',
            source: { component: 'kubelet', host: 'bench' },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
        baselinePerEvent.push(performance.now() - s);
      }
      baselineTotal.push(performance.now() - t0);

      // Recorder: distinct objects (no spam filtering), eventRecordQPS unlimited.
      const recorder = createApiEventRecorder({
        api,
        nodeName: 'bench',
        clock,
        eventRecordQps: 0,
        flushTimeoutMs: 120_000,
      });
      recorder.start();
      t0 = performance.now();
      for (let i = 0; i < events; i++) {
        const s = performance.now();
        recorder.event(
          ref(i + (round + 1) * events),
          'Normal',
          'Created',
          `Created container c${round}`,
        );
        enqueue.push(performance.now() - s);
      }
      await recorder.stop();
      recorderTotal.push(performance.now() - t0);
      recorderPerEvent.push(recorderTotal[recorderTotal.length - 1]! / events);
      if (recorder.stats().created !== events)
        throw new Error(`recorder wrote ${recorder.stats().created}/${events}`);
    }

    // Correlator alone (dedup path: the same event over and over, spam filter generous).
    const correlator = new EventCorrelator({ clock, spamBurst: 1e9 });
    const template: CoreEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'x.1', namespace: 'bench' },
      involvedObject: ref(0),
      reason: 'BackOff',
      message: 'Back-off restarting failed container',
      type: 'Warning',
      source: { component: 'kubelet', host: 'bench' },
      firstTimestamp: '2026-01-01T00:00:00Z',
      lastTimestamp: '2026-01-01T00:00:00Z',
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: 'bench',
    };
    const correlate: number[] = [];
    const copy: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      let s = performance.now();
      correlator.correlate({ ...template });
      correlate.push(performance.now() - s);
      s = performance.now();
      void { ...template };
      copy.push(performance.now() - s);
    }

    const base = summary(baselinePerEvent);
    const rec = summary(recorderPerEvent);
    const enq = summary(enqueue);
    const corr = summary(correlate);
    const cp = summary(copy);
    const result = {
      events,
      rounds,
      baselineCreateMs: base,
      recorderPerEventMs: rec,
      recorderToBaselineMedianRatio: rec.median / base.median,
      baselineTotalMs: summary(baselineTotal),
      recorderTotalMs: summary(recorderTotal),
      totalRatio: summary(recorderTotal).median / summary(baselineTotal).median,
      eventCallMs: enq,
      correlateMs: corr,
      objectCopyBaselineMs: cp,
    };
    console.log(
      `direct create (baseline) per event: median ${base.median.toFixed(3)} ms, p99 ${base.p99.toFixed(3)} ms`,
    );
    console.log(
      `recorder per event (amortised over ${events}): median ${rec.median.toFixed(3)} ms, p99 ${rec.p99.toFixed(3)} ms, ratio ${result.recorderToBaselineMedianRatio.toFixed(2)}x`,
    );
    console.log(
      `total for ${events}: baseline median ${result.baselineTotalMs.median.toFixed(0)} ms, recorder median ${result.recorderTotalMs.median.toFixed(0)} ms, ratio ${result.totalRatio.toFixed(2)}x`,
    );
    console.log(
      `event() call (enqueue): median ${(enq.median * 1000).toFixed(1)} µs, p99 ${(enq.p99 * 1000).toFixed(1)} µs`,
    );
    console.log(
      `correlate(): median ${(corr.median * 1000).toFixed(2)} µs, p99 ${(corr.p99 * 1000).toFixed(2)} µs (object copy baseline median ${(cp.median * 1000).toFixed(2)} µs)`,
    );
    const out = resolve(
      dirname(fileURLToPath(import.meta.url)),
      '../../../.bench-results/kube-client-events.json',
    );
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2));
    console.log(`wrote ${out}`);
  } finally {
    api.limiter.stop();
    await server.stop();
  }
}

await main();
