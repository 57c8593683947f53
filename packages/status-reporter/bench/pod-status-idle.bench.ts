/**
 * Pod status writes with 110 idle running pods over 5 simulated minutes (issue 6
 * benchmark: goal zero pod status writes), counted from the test API server's request
 * log, plus the cost of one setPodStatus call. Baselines in the same run: a naive
 * writer that PATCHes every pod's status every 10 s sync (no change detection), and
 * core's caching-only manager for the per-call cost.
 *
 * Run: npm run bench:pods -w @nodeagent/status-reporter
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createCachingPodStatusManager, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi } from '@nodeagent/kube-client';
import { startTestApiServer } from '@nodeagent/testkit';
import { ApiPodStatusManager } from '../src/pod-status-manager.js';

const pods = 110;
const minutes = 5;
const namespace = 'bench-status';

function status(): k8s.PodStatus {
  return {
    phase: 'Running',
    podIP: '10.0.0.1',
    qosClass: 'BestEffort',
    conditions: [
      { type: 'Initialized', status: 'True' },
      { type: 'Ready', status: 'True' },
      { type: 'ContainersReady', status: 'True' },
    ],
    containerStatuses: [
      {
        name: 'app',
        ready: true,
        started: true,
        restartCount: 0,
        image: 'busybox',
        imageID: 'sha256:1',
        containerID: 'containerd://1',
        state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
      },
    ],
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const server = await startTestApiServer();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'b', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'b' }],
    contexts: [{ name: 'b', cluster: 'b', user: 'b' }],
    currentContext: 'b',
  });
  const api = createKubeApi(kc, { qps: 0 });
  server.store.create(server.store.resource('namespaces'), '', { metadata: { name: namespace } });
  const podObjects = Array.from(
    { length: pods },
    (_, i) =>
      server.store.create(server.store.resource('pods'), namespace, {
        metadata: { name: `idle-${i}` },
        spec: { nodeName: 'n', containers: [{ name: 'app', image: 'busybox' }] },
      }) as unknown as k8s.Pod,
  );
  const writes = (from: number): number =>
    server.requests.slice(from).filter((r) => r.verb !== 'get' && r.verb !== 'list').length;
  const requests = (from: number): number => server.requests.length - from;

  // nodeagent: ApiPodStatusManager.
  const clock = new FakeClock();
  const manager = new ApiPodStatusManager({ api, clock });
  manager.start();
  for (const p of podObjects) manager.setPodStatus(p, status());
  await clock.advance(20);
  await manager.whenIdle();
  const mark = server.requests.length;
  for (let t = 0; t < (minutes * 60) / 10; t++) {
    for (const p of podObjects) manager.setPodStatus(p, status());
    await clock.advance(10_000);
    await manager.whenIdle();
  }
  const managerWrites = writes(mark);
  const managerRequests = requests(mark);
  await manager.stop();

  // Baseline: PATCH every status every sync period.
  const naiveMark = server.requests.length;
  for (let t = 0; t < (minutes * 60) / 10; t++) {
    await Promise.all(
      podObjects.map((p) =>
        api.core.patchNamespacedPodStatus(
          { name: p.metadata.name ?? '', namespace, body: { status: status() } },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        ),
      ),
    );
  }
  const naiveWrites = writes(naiveMark);

  // Per-call cost of setPodStatus with an unchanged status, vs the caching-only manager.
  const rounds = 20_000;
  const time = (fn: (i: number) => void): number[] => {
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      fn(i);
      samples.push((performance.now() - t0) * 1000);
    }
    return samples.sort((a, b) => a - b);
  };
  const idleClock = new FakeClock();
  const idle = new ApiPodStatusManager({ api, clock: idleClock });
  for (const p of podObjects) idle.setPodStatus(p, status());
  const caching = createCachingPodStatusManager();
  const ours = time((i) => idle.setPodStatus(podObjects[i % pods] as k8s.Pod, status()));
  const base = time((i) => caching.setPodStatus(podObjects[i % pods] as k8s.Pod, status()));
  await idle.stop();
  api.limiter.stop();
  await server.stop();

  const result = {
    pods,
    simulatedMinutes: minutes,
    statusWrites: { apiPodStatusManager: managerWrites, naiveEverySync: naiveWrites },
    requestsApiPodStatusManager: managerRequests,
    setPodStatusUnchangedMicros: {
      median: quantile(ours, 0.5),
      p99: quantile(ours, 0.99),
      baselineCachingMedian: quantile(base, 0.5),
      baselineCachingP99: quantile(base, 0.99),
      ratioMedian: quantile(ours, 0.5) / Math.max(quantile(base, 0.5), 1e-9),
      ratioP99: quantile(ours, 0.99) / Math.max(quantile(base, 0.99), 1e-9),
    },
  };
  console.log(`pod status writes, ${pods} idle pods over ${minutes} simulated min:`);
  console.log(
    `  ApiPodStatusManager ${managerWrites} (all requests: ${managerRequests}); naive baseline ${naiveWrites}`,
  );
  console.log(
    `setPodStatus (unchanged status): median ${result.setPodStatusUnchangedMicros.median.toFixed(1)} µs, p99 ${result.setPodStatusUnchangedMicros.p99.toFixed(1)} µs; ` +
      `caching baseline median ${result.setPodStatusUnchangedMicros.baselineCachingMedian.toFixed(2)} µs, p99 ${result.setPodStatusUnchangedMicros.baselineCachingP99.toFixed(2)} µs; ` +
      `ratio median ${result.setPodStatusUnchangedMicros.ratioMedian.toFixed(1)}x, p99 ${result.setPodStatusUnchangedMicros.ratioP99.toFixed(1)}x`,
  );
  const out = join(
    dirname(fileURLToPath(import.meta.url)),
    '../../../.bench-results/status-reporter-pods.json',
  );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  if (managerWrites !== 0) process.exitCode = 1;
}

await main();
