/**
 * The kubelet pod metrics of the pod lifecycle, end to end in memory (source → workers
 * → runtime manager → InMemoryMetrics) on the fake clock, and the tracker's rules.
 */
import { join } from 'node:path';
import { PodAnnotation, type ImageService, type PodUpdate, type k8s } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { createPleg } from '@nodeagent/pleg';
import { createFakeRuntime } from '@nodeagent/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { PodLifecycleMetrics, countRuntimePods, podStartupDurationBuckets } from './metrics.js';
import { PodLifecycle } from './pod-lifecycle.js';

const memoryFs = {
  ensureDir: async () => {},
  removeAll: async () => {},
  prepareHostPath: async () => {},
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function pod(uid: string, createdMs: number, spec: Partial<k8s.PodSpec> = {}): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: uid,
      namespace: 'default',
      uid,
      creationTimestamp: new Date(createdMs).toISOString(),
    },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'main', image: 'busybox:1', command: ['sleep', '3600'] }],
      ...spec,
    },
  };
}

const pullMs = 5_000;

async function harness() {
  const clock = new FakeClock();
  const runtime = createFakeRuntime({ clock, autoEvents: false });
  const metrics = new InMemoryMetrics();
  const pulls: Array<{ startMs: number; endMs: number }> = [];
  // Every pull takes 5 s of fake time.
  const images: ImageService = Object.assign(Object.create(runtime) as ImageService, {
    pullImage: async (...args: Parameters<ImageService['pullImage']>) => {
      const startMs = clock.now();
      await clock.sleep(pullMs);
      const r = await runtime.pullImage(...args);
      pulls.push({ startMs, endMs: clock.now() });
      return r;
    },
  });
  const pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
  const listeners = new Set<(u: PodUpdate) => void>();
  const lifecycle = new PodLifecycle({
    runtime,
    images,
    cache: pleg.cache,
    pleg,
    clock,
    sources: [
      {
        name: 'file',
        start: () => {},
        stop: async () => {},
        subscribe: (l) => {
          listeners.add(l);
          return () => listeners.delete(l);
        },
      },
    ],
    nodeName: 'node-1',
    rootDir: join('/nodeagent-test', 'root'),
    podLogsDir: join('/nodeagent-test', 'logs'),
    runtimeName: 'containerd',
    memoryCapacityBytes: 8 * 1024 ** 3,
    random: { float: () => 0 },
    fs: memoryFs,
    metrics,
  });
  // The moment each pod's generated status first reads Running / all containers running.
  const runningAt = new Map<string, number>();
  lifecycle.manager.onStatus((p, status) => {
    const uid = p.metadata.uid ?? '';
    if (status.phase === 'Running' && !runningAt.has(uid)) runningAt.set(uid, clock.now());
  });
  pleg.start();
  lifecycle.start();
  cleanups.push(async () => {
    await lifecycle.stop();
    await pleg.stop();
  });
  const step = async (ms: number): Promise<void> => {
    for (let done = 0; done < ms; done += 100) await clock.advance(Math.min(100, ms - done));
  };
  const setPods = (pods: k8s.Pod[]): void => {
    for (const l of listeners) l({ op: 'SET', source: 'file', pods });
  };
  return { clock, runtime, metrics, lifecycle, pulls, runningAt, step, setPods };
}

describe('pod lifecycle metrics (in memory, fake clock)', () => {
  it('observes pod start, start SLI (without the image pull) and sync durations once per pod', async () => {
    const h = await harness();
    const created = h.clock.now() - 10_000; // created 10 s before the agent saw it
    h.setPods([pod('a', created)]);
    await h.step(10_000);
    const view = h.lifecycle.pods()[0];
    expect(view?.status?.phase).toBe('Running');
    const seen = Date.parse(view?.pod.metadata.annotations?.[PodAnnotation.ConfigSeen] ?? '');
    const runningAt = h.runningAt.get('a');
    expect(runningAt).toBeDefined();
    expect(h.pulls).toHaveLength(1);
    const pull = h.pulls[0]!;
    expect(pull.endMs - pull.startMs).toBe(pullMs);

    const start = h.metrics.observations('kubelet_pod_start_duration_seconds');
    expect(start).toEqual([(runningAt! - seen) / 1000]);
    expect(start[0]).toBeGreaterThanOrEqual(pullMs / 1000); // the pull is part of it
    const sli = h.metrics.observations('kubelet_pod_start_sli_duration_seconds');
    expect(sli).toEqual([(runningAt! - created - pullMs) / 1000]);

    // The first sync (create) waited for the 5 s pull; later ones are resyncs.
    const creates = h.metrics.observations('kubelet_pod_worker_duration_seconds', {
      operation_type: 'create',
    });
    expect(creates).toHaveLength(1);
    expect(creates[0]).toBeGreaterThanOrEqual(pullMs / 1000);
    await h.step(70_000); // past the 1 min resync
    expect(
      h.metrics.observations('kubelet_pod_worker_duration_seconds', { operation_type: 'sync' })
        .length,
    ).toBeGreaterThan(0);
    // still once per pod
    expect(h.metrics.observations('kubelet_pod_start_duration_seconds')).toHaveLength(1);
    expect(h.metrics.observations('kubelet_pod_start_sli_duration_seconds')).toHaveLength(1);
  });

  it('counts pods with a running sandbox and containers by state from the runtime', async () => {
    const h = await harness();
    const now = h.clock.now();
    h.setPods([
      pod('a', now),
      pod('done', now, {
        restartPolicy: 'Never',
        containers: [{ name: 'job', image: 'busybox:1', command: ['true'] }],
      }),
    ]);
    await h.step(10_000);
    expect(h.metrics.value('kubelet_running_pods')).toBe(2);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'running' })).toBe(2);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'exited' })).toBe(0);

    const job = h.runtime
      .listContainersNow()
      .find((c) => c.labels['io.kubernetes.pod.uid'] === 'done');
    h.runtime.exitContainer(job!.id, 0);
    await h.step(10_000); // the pod completes; its sandbox is stopped, the container kept
    expect(h.lifecycle.pods().find((v) => v.pod.metadata.uid === 'done')?.status?.phase).toBe(
      'Succeeded',
    );
    expect(h.metrics.value('kubelet_running_pods')).toBe(1);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'running' })).toBe(1);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'exited' })).toBe(1);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'created' })).toBe(0);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'unknown' })).toBe(0);

    h.setPods([pod('a', now)]); // 'done' removed: its container and sandbox go
    await h.step(10_000);
    expect(h.metrics.value('kubelet_running_pods')).toBe(1);
    expect(h.metrics.value('kubelet_running_containers', { container_state: 'exited' })).toBe(0);
    expect(h.lifecycle.manager.metrics.trackedPods).toBe(1);
  });
});

describe('PodLifecycleMetrics', () => {
  const running = (startedAt = '2026-01-01T00:00:05Z'): k8s.PodStatus => ({
    phase: 'Running',
    containerStatuses: [
      {
        name: 'main',
        image: 'busybox:1',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { running: { startedAt } },
      },
    ],
  });
  const pending: k8s.PodStatus = {
    phase: 'Pending',
    containerStatuses: [
      {
        name: 'main',
        image: 'busybox:1',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
      },
    ],
  };
  const seenPod = (uid: string, seenIso?: string): k8s.Pod => ({
    metadata: {
      uid,
      name: uid,
      namespace: 'default',
      creationTimestamp: '2026-01-01T00:00:00Z',
      ...(seenIso ? { annotations: { [PodAnnotation.ConfigSeen]: seenIso } } : {}),
    },
    spec: { containers: [{ name: 'main', image: 'busybox:1' }] },
  });

  it('does not measure a pod first seen already running (adopted after an agent restart)', () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 10));
    const registry = new InMemoryMetrics();
    const m = new PodLifecycleMetrics(registry, clock);
    const p = seenPod('adopted', '2026-01-01T00:00:09Z');
    m.podStatusGenerated(p, 'adopted', undefined, running());
    m.podStatusGenerated(p, 'adopted', pending, running());
    expect(registry.observations('kubelet_pod_start_duration_seconds')).toEqual([]);
    expect(registry.observations('kubelet_pod_start_sli_duration_seconds')).toEqual([]);
  });

  it('measures from the config.seen annotation, and skips a pod without it', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 1));
    const registry = new InMemoryMetrics();
    const m = new PodLifecycleMetrics(registry, clock);
    const p = seenPod('p', '2026-01-01T00:00:01Z');
    const bare = seenPod('bare');
    m.podStatusGenerated(p, 'p', undefined, pending);
    m.podStatusGenerated(bare, 'bare', undefined, pending);
    m.imagePullStarted('p');
    await clock.advance(2_000);
    m.imagePullFinished('p');
    await clock.advance(1_500);
    m.podStatusGenerated(p, 'p', pending, running());
    m.podStatusGenerated(bare, 'bare', pending, running());
    expect(registry.observations('kubelet_pod_start_duration_seconds')).toEqual([3.5]);
    // creation 00:00:00 → running 00:00:04.5, minus the 2 s pull; both pods have a creationTimestamp
    expect(registry.observations('kubelet_pod_start_sli_duration_seconds')).toEqual([2.5, 4.5]);
    m.forgetPod('p');
    m.forgetPod('bare');
    expect(m.trackedPods).toBe(0);
  });

  it('counts one running pod per pod UID however many sandboxes are ready', () => {
    const clock = new FakeClock();
    const runtime = createFakeRuntime({ clock, autoEvents: false });
    const sb1 = runtime.addSandbox({ uid: 'x' });
    runtime.addSandbox({ uid: 'x' });
    const sb3 = runtime.addSandbox({ uid: 'y' });
    runtime.setSandboxState(sb3, 'SANDBOX_NOTREADY');
    runtime.addContainer(sb1);
    const exited = runtime.addContainer(sb1);
    runtime.exitContainer(exited, 1);
    runtime.addContainer(sb3);
    const counts = countRuntimePods(runtime.listSandboxesNow(), runtime.listContainersNow());
    expect(counts.runningPods).toBe(1);
    expect(counts.containers.exited).toBe(1);
    expect(counts.containers.created + counts.containers.running).toBe(2);
    expect(counts.containers.unknown).toBe(0);
  });

  it('uses the kubelet pod startup buckets', () => {
    expect(podStartupDurationBuckets[0]).toBe(0.5);
    expect(podStartupDurationBuckets.at(-1)).toBe(3600);
    expect(podStartupDurationBuckets).toHaveLength(25);
  });
});
