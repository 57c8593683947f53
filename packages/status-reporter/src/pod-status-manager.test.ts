import { KubeConfig } from '@kubernetes/client-node';
import { PodAnnotation, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi, type KubeApi } from '@nodeagent/kube-client';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
// The generated clients' own serializer (the package root exports a different wrapper).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiMirrorClient } from './mirror-client.js';
import { ApiPodStatusManager } from './pod-status-manager.js';

const node = 'node-1';
let server: TestApiServer;
let api: KubeApi;
let clock: FakeClock;
let manager: ApiPodStatusManager;
let namespace: string;
let nsCounter = 0;

beforeAll(async () => {
  server = await startTestApiServer();
  // Plain HTTP on loopback (client-node wants skipTLSVerify for http:// servers): no TLS
  // handshake per request, which client-node would otherwise do for every call.
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  api = createKubeApi(kc, { qps: 0 });
});
afterAll(async () => {
  api.limiter.stop();
  await server.stop();
});

beforeEach(() => {
  namespace = `status-${++nsCounter}`;
  server.store.create(server.store.resource('namespaces'), '', { metadata: { name: namespace } });
  clock = new FakeClock();
  manager = new ApiPodStatusManager({ api, clock, random: { float: () => 0 } });
  manager.start();
});
afterEach(async () => {
  await manager.stop();
  await manager.whenIdle();
  expect(clock.pendingTimers()).toBe(0);
});

const podsResource = (): ReturnType<TestApiServer['store']['resource']> =>
  server.store.resource('pods');

/** Creates a pod in the API server's store; returns it in core's JSON shape. */
function createPod(name: string): k8s.Pod {
  return server.store.create(podsResource(), namespace, {
    metadata: { name, namespace },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'busybox' }] },
  }) as unknown as k8s.Pod;
}

function apiPod(name: string): k8s.Pod | undefined {
  return server.store.tryGet(podsResource(), namespace, name) as unknown as k8s.Pod | undefined;
}

function runningStatus(restartCount = 0, ready = true): k8s.PodStatus {
  return {
    phase: 'Running',
    hostIP: '10.0.0.1',
    podIP: '10.0.0.1',
    podIPs: [{ ip: '10.0.0.1' }],
    qosClass: 'BestEffort',
    conditions: [
      { type: 'PodReadyToStartContainers', status: 'True' },
      { type: 'Initialized', status: 'True' },
      { type: 'Ready', status: ready ? 'True' : 'False' },
      { type: 'ContainersReady', status: ready ? 'True' : 'False' },
    ],
    containerStatuses: [
      {
        name: 'app',
        ready,
        started: true,
        restartCount,
        image: 'busybox:latest',
        imageID: 'sha256:abc',
        containerID: `containerd://c${restartCount}`,
        state: { running: { startedAt: '2026-01-01T00:00:01.123456789Z' } },
      },
    ],
  };
}

function succeededStatus(): k8s.PodStatus {
  const s = runningStatus(0, false);
  s.phase = 'Succeeded';
  s.containerStatuses = [
    {
      name: 'app',
      ready: false,
      started: false,
      restartCount: 0,
      image: 'busybox:latest',
      imageID: 'sha256:abc',
      containerID: 'containerd://c0',
      state: {
        terminated: {
          exitCode: 0,
          reason: 'Completed',
          startedAt: '2026-01-01T00:00:01Z',
          finishedAt: '2026-01-01T00:00:05Z',
        },
      },
    },
  ];
  return s;
}

/** Lets due writes start and waits until they are done (repeatedly, for follow-ups). */
async function settle(ms = 20): Promise<void> {
  await clock.advance(ms);
  await manager.whenIdle();
  await clock.advance(0);
  await manager.whenIdle();
}

const mine = (): TestApiServer['requests'] =>
  server.requests.filter((r) => r.namespace === namespace);
const statusPatches = (): TestApiServer['requests'] =>
  mine().filter((r) => r.verb === 'patch' && r.subresource === 'status');
const writes = (): TestApiServer['requests'] =>
  mine().filter((r) => r.verb !== 'get' && r.verb !== 'list' && r.verb !== 'watch');

describe('ApiPodStatusManager', () => {
  it('coalesces a burst of 20 status changes into one strategic-merge PATCH of pods/<name>/status', async () => {
    const pod = createPod('burst');
    for (let i = 0; i < 20; i++) manager.setPodStatus(pod, runningStatus(i));
    await settle();
    const patches = statusPatches();
    expect(patches).toHaveLength(1);
    expect(patches[0]).toMatchObject({
      method: 'PATCH',
      path: `/api/v1/namespaces/${namespace}/pods/burst/status`,
      contentType: 'application/strategic-merge-patch+json',
      status: 200,
    });
    const written = apiPod('burst')?.status;
    expect(written?.phase).toBe('Running');
    expect(written?.containerStatuses?.[0]?.restartCount).toBe(19);
    // Timestamps reach the API server at second precision.
    expect(written?.containerStatuses?.[0]?.state?.running?.startedAt).toBe('2026-01-01T00:00:01Z');
    expect(manager.pendingWrites).toBe(0);
  });

  it(
    'writes nothing for 110 idle running pods over 5 simulated minutes of periodic syncs',
    { timeout: 60_000 },
    async () => {
      const pods = Array.from({ length: 110 }, (_, i) => createPod(`idle-${i}`));
      for (const p of pods) manager.setPodStatus(p, runningStatus());
      await settle();
      expect(statusPatches()).toHaveLength(110);
      const before = writes().length;
      const requestsBefore = mine().length;
      for (let t = 0; t < 30; t++) {
        // pod-lifecycle keeps reporting the same status (fresh objects, equal content).
        for (const p of pods) manager.setPodStatus(p, runningStatus());
        await clock.advance(10_000);
        await manager.whenIdle();
      }
      expect(writes().length - before).toBe(0);
      // At most one reconciling GET per pod (the pod objects given still carry the API's old status).
      expect(mine().length - requestsBefore).toBeLessThanOrEqual(110);
    },
  );

  it('keeps startTime and the lastTransitionTime of conditions whose status did not change', async () => {
    const pod = createPod('times');
    manager.setPodStatus(pod, runningStatus(0, false));
    const first = manager.getPodStatus(pod.metadata.uid ?? '');
    await clock.advance(60_000);
    manager.setPodStatus(pod, runningStatus(0, true));
    const second = manager.getPodStatus(pod.metadata.uid ?? '');
    const ltt = (s: k8s.PodStatus | undefined, type: string): string | undefined =>
      s?.conditions?.find((c) => c.type === type)?.lastTransitionTime;
    expect(second?.startTime).toBe(first?.startTime);
    expect(ltt(second, 'Initialized')).toBe(ltt(first, 'Initialized'));
    expect(ltt(second, 'Ready')).not.toBe(ltt(first, 'Ready'));
    expect(ltt(second, 'Ready')).toBe('2026-01-01T00:01:00Z');
    await settle();
    // The first status went out during the minute; the Ready change is the second write.
    expect(statusPatches()).toHaveLength(2);
    expect(
      apiPod('times')?.status?.conditions?.find((c) => c.type === 'Initialized')
        ?.lastTransitionTime,
    ).toBe(ltt(first, 'Initialized'));
  });

  it('reads the pod once: later writes start from the copy the last patch returned', async () => {
    const pod = createPod('reads');
    manager.setPodStatus(pod, runningStatus());
    await settle();
    manager.setPodStatus(pod, runningStatus(1));
    await settle();
    manager.setPodStatus(pod, runningStatus(2));
    await settle();
    expect(statusPatches().map((r) => r.status)).toEqual([200, 200, 200]);
    expect(mine().filter((r) => r.verb === 'get' && r.name === 'reads')).toHaveLength(1);
  });

  it('does not write to a pod recreated with the same name (UID differs) and sends the UID precondition', async () => {
    const old = createPod('recreated');
    manager.setPodStatus(old, runningStatus());
    await settle();
    expect(statusPatches()).toHaveLength(1);
    server.store.delete(podsResource(), namespace, 'recreated', { gracePeriodSeconds: 0 });
    const fresh = createPod('recreated');
    expect(fresh.metadata.uid).not.toBe(old.metadata.uid);
    manager.setPodStatus(old, runningStatus(3));
    await settle();
    // Written from the copy its last patch returned: the UID precondition refuses it…
    expect(statusPatches().map((r) => r.status)).toEqual([200, 409]);
    expect(apiPod('recreated')?.status?.phase).toBe('Pending');
    // …and the retry reads the pod afresh, sees another UID and gives up on it.
    await clock.advance(1_000);
    await settle();
    expect(statusPatches()).toHaveLength(2);
    expect(manager.getPodStatus(old.metadata.uid ?? '')).toBeUndefined();
  });

  it("keeps conditions the kubelet does not own as the API server has them; PodScheduled is the kubelet's", async () => {
    const pod = createPod('conditions');
    const stored = server.store.get(podsResource(), namespace, 'conditions');
    stored.status = {
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: '2025-12-31T00:00:00Z' },
        { type: 'example.com/gate', status: 'True', lastTransitionTime: '2025-12-31T00:00:00Z' },
      ],
    };
    server.store.update(podsResource(), namespace, stored, 'status');
    const status = runningStatus();
    status.conditions = [
      ...(status.conditions ?? []),
      { type: 'example.com/gate', status: 'False' },
      { type: 'PodScheduled', status: 'True' },
    ];
    // As the API pod source delivers it: with the scheduler's conditions.
    manager.setPodStatus(apiPod('conditions') ?? pod, status);
    await settle();
    const conditions = apiPod('conditions')?.status?.conditions ?? [];
    // The scheduler's PodScheduled True keeps its transition time: its status did not change.
    expect(conditions.find((c) => c.type === 'PodScheduled')).toMatchObject({
      status: 'True',
      lastTransitionTime: '2025-12-31T00:00:00Z',
    });
    expect(conditions.find((c) => c.type === 'example.com/gate')?.status).toBe('True');
    expect(conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(conditions.map((c) => c.type).sort()).toEqual([
      'ContainersReady',
      'Initialized',
      'PodReadyToStartContainers',
      'PodScheduled',
      'Ready',
      'example.com/gate',
    ]);
  });

  it('never takes a pod out of a terminal phase', async () => {
    const pod = createPod('terminal');
    manager.setPodStatus(pod, succeededStatus());
    await settle();
    expect(apiPod('terminal')?.status?.phase).toBe('Succeeded');
    manager.setPodStatus(pod, runningStatus());
    await settle();
    expect(manager.getPodStatus(pod.metadata.uid ?? '')?.phase).toBe('Succeeded');
    expect(statusPatches()).toHaveLength(1);
    expect(apiPod('terminal')?.status?.phase).toBe('Succeeded');

    // A fresh manager (agent restart) given a Running status for a pod the API has as Failed.
    const failed = createPod('failed');
    const stored = server.store.get(podsResource(), namespace, 'failed');
    stored.status = { phase: 'Failed', reason: 'Evicted' };
    server.store.update(podsResource(), namespace, stored, 'status');
    manager.setPodStatus(apiPod('failed') ?? failed, runningStatus());
    await settle();
    expect(apiPod('failed')?.status?.phase).toBe('Failed');
    expect(statusPatches()).toHaveLength(1);
  });

  it('writes the final status before completing the deletion with grace 0', async () => {
    const pod = createPod('deleted');
    manager.setPodStatus(pod, runningStatus());
    await settle();
    server.store.delete(podsResource(), namespace, 'deleted', { gracePeriodSeconds: 30 });
    const terminating = apiPod('deleted');
    expect(terminating?.metadata.deletionTimestamp).toBeDefined();
    if (terminating === undefined) throw new Error('pod gone too early');
    // Containers stopped: pod-lifecycle reports the last status, then podTerminated.
    const stopped = runningStatus(0, false);
    stopped.containerStatuses = succeededStatus().containerStatuses ?? [];
    manager.setPodStatus(terminating, stopped);
    await settle();
    expect(apiPod('deleted')).toBeDefined(); // not deleted before podTerminated
    manager.podTerminated(terminating);
    await settle();
    expect(apiPod('deleted')).toBeUndefined();
    const log = mine().filter((r) => r.name === 'deleted');
    const lastPatch = log.findLastIndex((r) => r.verb === 'patch');
    const del = log.findIndex((r) => r.verb === 'delete');
    expect(del).toBeGreaterThan(lastPatch);
    expect(log[del]).toMatchObject({ method: 'DELETE', status: 200 });
    expect(log[lastPatch]?.status).toBe(200);
    expect(manager.getPodStatus(pod.metadata.uid ?? '')).toBeUndefined();
  });

  it('reads, patches and deletes with the API server’s raw JSON: no typed V1Pod model is built', async () => {
    const deserialize = vi.spyOn(ObjectSerializer, 'deserialize');
    try {
      const pod = createPod('raw');
      manager.setPodStatus(pod, runningStatus());
      await settle();
      server.store.delete(podsResource(), namespace, 'raw', { gracePeriodSeconds: 30 });
      const terminating = apiPod('raw');
      if (terminating === undefined) throw new Error('pod gone too early');
      manager.podTerminated(terminating);
      await settle();
      expect(apiPod('raw')).toBeUndefined();
      const log = mine().filter((r) => r.name === 'raw');
      expect(log.map((r) => r.verb)).toEqual(['get', 'patch', 'get', 'patch', 'delete']);
      const typed = deserialize.mock.calls
        .filter((c) => c[0] !== null && c[0] !== undefined)
        .map((c) => c[1]);
      expect(typed).not.toContain('V1Pod');
    } finally {
      deserialize.mockRestore();
    }
  });

  it('podTerminated reports containers it never saw stop as failed (exit 137) and the pod as Failed', () => {
    const pod = createPod('unknown');
    manager.setPodStatus(pod, runningStatus());
    manager.podTerminated(pod);
    const status = manager.getPodStatus(pod.metadata.uid ?? '');
    expect(status?.phase).toBe('Failed');
    expect(status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
    });
    // Ready must not stay True on a terminal pod (checked at merge time).
  });

  it('converges after the API server was down during writes, with back-off, without losing statuses', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => createPod(`down-${i}`));
    await server.faults.goDown();
    try {
      for (const p of pods) manager.setPodStatus(p, runningStatus());
      await settle();
      await clock.advance(2_000);
      await manager.whenIdle();
      expect(manager.pendingWrites).toBe(5);
      // A terminal status set while the server is down is not lost.
      const first = pods[0];
      if (first === undefined) throw new Error('no pod');
      manager.setPodStatus(first, succeededStatus());
    } finally {
      await server.faults.comeBack();
    }
    for (let i = 0; i < 15 && manager.pendingWrites > 0; i++) {
      await clock.advance(1_000);
      await manager.whenIdle();
    }
    expect(manager.pendingWrites).toBe(0);
    expect(apiPod('down-0')?.status?.phase).toBe('Succeeded');
    for (let i = 1; i < 5; i++) expect(apiPod(`down-${i}`)?.status?.phase).toBe('Running');
  });

  it('a pod whose writes fail does not hold up the others, and is retried until written', async () => {
    const bad = createPod('failing');
    const good = createPod('fine');
    const remove = server.faults.failRequests({
      code: 500,
      match: { verb: 'patch', name: 'failing', namespace },
    });
    manager.setPodStatus(bad, runningStatus());
    manager.setPodStatus(good, runningStatus());
    await settle();
    expect(apiPod('fine')?.status?.phase).toBe('Running');
    expect(apiPod('failing')?.status?.phase).toBe('Pending');
    await clock.advance(600);
    await manager.whenIdle();
    const failedAttempts = statusPatches().filter((r) => r.name === 'failing' && r.status === 500);
    expect(failedAttempts.length).toBe(2); // first try, then after 500 ms back-off
    remove();
    await clock.advance(1_000);
    await manager.whenIdle();
    expect(apiPod('failing')?.status?.phase).toBe('Running');
  });

  it('writes a static pod status to its mirror pod, once the mirror exists', async () => {
    server.store.create(server.store.resource('nodes'), '', { metadata: { name: node } });
    const hash = 'abc123hash';
    const staticPod: k8s.Pod = {
      metadata: {
        name: `web-${node}`,
        namespace,
        uid: hash,
        annotations: {
          [PodAnnotation.ConfigSource]: 'file',
          [PodAnnotation.ConfigHash]: hash,
        },
      },
      spec: { nodeName: node, containers: [{ name: 'app', image: 'busybox' }] },
    };
    manager.setPodStatus(staticPod, runningStatus());
    await settle();
    expect(statusPatches()).toHaveLength(0); // no mirror yet: only cached
    await new ApiMirrorClient({ api, nodeName: node }).createMirrorPod(staticPod);
    const mirror = apiPod(`web-${node}`);
    expect(mirror?.metadata.uid).not.toBe(hash);
    await clock.advance(10_000);
    await manager.whenIdle();
    expect(statusPatches()).toHaveLength(1);
    const status = apiPod(`web-${node}`)?.status;
    expect(status?.phase).toBe('Running');
    // For static pods the kubelet owns PodScheduled too.
    manager.setPodStatus(staticPod, {
      ...runningStatus(),
      conditions: [...(runningStatus().conditions ?? []), { type: 'PodScheduled', status: 'True' }],
    });
    await settle();
    expect(apiPod(`web-${node}`)?.status?.conditions?.some((c) => c.type === 'PodScheduled')).toBe(
      true,
    );
    // The mirror pod is never deleted by the status manager.
    manager.podTerminated(staticPod);
    await settle();
    expect(apiPod(`web-${node}`)).toBeDefined();
  });

  it('rewrites an unchanged static pod status to a mirror pod recreated after a delete (mirror_pod_test "recreated when mirror pod gracefully deleted")', async () => {
    if (!server.store.tryGet(server.store.resource('nodes'), '', node))
      server.store.create(server.store.resource('nodes'), '', { metadata: { name: node } });
    const hash = 'recreatedhash';
    const staticPod: k8s.Pod = {
      metadata: {
        name: `db-${node}`,
        namespace,
        uid: hash,
        annotations: {
          [PodAnnotation.ConfigSource]: 'file',
          [PodAnnotation.ConfigHash]: hash,
        },
      },
      spec: { nodeName: node, containers: [{ name: 'app', image: 'busybox' }] },
    };
    const mirrors = new ApiMirrorClient({
      api,
      nodeName: node,
      onMirrorPodCreated: (p) => manager.mirrorPodCreated(p.metadata.uid ?? ''),
    });
    await mirrors.createMirrorPod(staticPod);
    manager.setPodStatus(staticPod, runningStatus());
    await settle();
    expect(apiPod(`db-${node}`)?.status?.phase).toBe('Running');
    // The mirror is deleted and recreated (empty status); the pod's status is the same.
    expect(await mirrors.deleteMirrorPod(`db-${node}_${namespace}`)).toBe(true);
    await mirrors.createMirrorPod(staticPod);
    expect(apiPod(`db-${node}`)?.status?.phase).not.toBe('Running');
    manager.setPodStatus(staticPod, runningStatus()); // unchanged: no write by itself
    await settle();
    expect(apiPod(`db-${node}`)?.status?.phase).toBe('Running');
    expect(apiPod(`db-${node}`)?.status?.containerStatuses?.[0]?.ready).toBe(true);
  });

  it('mirrorPodCreated ignores unknown and non-static pods', async () => {
    const pod = createPod('plain');
    manager.setPodStatus(pod, runningStatus());
    await settle();
    const writes = statusPatches().length;
    manager.mirrorPodCreated(pod.metadata.uid ?? '');
    manager.mirrorPodCreated('no-such-uid');
    await settle();
    expect(statusPatches()).toHaveLength(writes);
  });

  it('only caches statuses until started, and removeOrphanedStatuses forgets pods', async () => {
    await manager.stop();
    manager = new ApiPodStatusManager({ api, clock, random: { float: () => 0 } });
    const a = createPod('a');
    const b = createPod('b');
    manager.setPodStatus(a, runningStatus());
    manager.setPodStatus(b, runningStatus());
    await settle();
    expect(statusPatches()).toHaveLength(0);
    manager.removeOrphanedStatuses(new Set([a.metadata.uid ?? '']));
    expect(manager.getPodStatus(b.metadata.uid ?? '')).toBeUndefined();
    manager.start();
    await settle();
    expect(statusPatches().map((r) => r.name)).toEqual(['a']);
  });
});
