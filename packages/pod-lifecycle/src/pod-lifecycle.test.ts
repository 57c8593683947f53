/**
 * PodLifecycle end to end in memory: pod source → config → workers → runtime manager,
 * with the real relisting PLEG over testkit's in-memory runtime, all on the fake clock.
 */
import { join } from 'node:path';
import {
  createCachingPodStatusManager,
  type ContainerRestartRequest,
  type MirrorClient,
  type PodSource,
  type PodStatusManager,
  type EventRecorder,
  type PodUpdate,
  type ProbeResultUpdate,
  type k8s,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { PredicateAdmitHandler } from './admission/predicate.js';
import type { PodAdmitHandler } from './admission/types.js';
import { PodLifecycle } from './pod-lifecycle.js';

class TestSource implements PodSource {
  constructor(readonly name = 'file') {}
  private readonly listeners = new Set<(u: PodUpdate) => void>();
  pods: k8s.Pod[] = [];
  start(): void {
    this.emit();
  }
  async stop(): Promise<void> {}
  subscribe(listener: (u: PodUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(pods: k8s.Pod[]): void {
    this.pods = pods;
    this.emit();
  }
  private emit(): void {
    for (const l of this.listeners) l({ op: 'SET', source: this.name, pods: this.pods });
  }
}

function pod(uid: string, spec: Partial<k8s.PodSpec> = {}, name = uid): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'main', image: 'busybox:1', command: ['sleep', '3600'] }],
      ...spec,
    },
  };
}

interface Harness {
  clock: FakeClock;
  runtime: FakeRuntime;
  pleg: Pleg;
  source: TestSource;
  lifecycle: PodLifecycle;
  /** Moves time on, letting relists, syncs and timers run. */
  step(ms?: number): Promise<void>;
  containers(podUid: string, name?: string): ReturnType<FakeRuntime['listContainersNow']>;
}

/** Directories are only recorded: real I/O would make fake-clock progress depend on real time. */
const memoryFs = {
  dirs: new Set<string>(),
  ensureDir: async (path: string) => {
    memoryFs.dirs.add(path);
  },
  removeAll: async (path: string) => {
    for (const d of memoryFs.dirs)
      if (d === path || d.startsWith(`${path}/`)) memoryFs.dirs.delete(d);
  },
  prepareHostPath: async () => {},
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function harness(
  pods: k8s.Pod[],
  opts: {
    runtime?: FakeRuntime;
    clock?: FakeClock;
    probes?: ConstructorParameters<typeof PodLifecycle>[0]['probes'];
    extraSources?: PodSource[];
    statusManager?: PodStatusManager;
    mirrorClient?: MirrorClient;
    admitHandlers?: PodAdmitHandler[];
    recorder?: EventRecorder;
  } = {},
): Promise<Harness> {
  const clock = opts.clock ?? new FakeClock();
  const runtime = opts.runtime ?? createFakeRuntime({ clock, autoEvents: false });
  const pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
  const source = new TestSource();
  source.pods = pods;
  const dir = '/nodeagent-test';
  const lifecycle = new PodLifecycle({
    runtime,
    images: runtime,
    cache: pleg.cache,
    pleg,
    clock,
    sources: [source, ...(opts.extraSources ?? [])],
    nodeName: 'node-1',
    rootDir: join(dir, 'root'),
    podLogsDir: join(dir, 'logs'),
    runtimeName: 'containerd',
    memoryCapacityBytes: 8 * 1024 ** 3,
    random: { float: () => 0 },
    fs: memoryFs,
    ...(opts.probes ? { probes: opts.probes } : {}),
    ...(opts.statusManager ? { statusManager: opts.statusManager } : {}),
    ...(opts.mirrorClient ? { mirrorClient: opts.mirrorClient } : {}),
    ...(opts.admitHandlers ? { admitHandlers: opts.admitHandlers } : {}),
    ...(opts.recorder ? { recorder: opts.recorder } : {}),
  });
  pleg.start();
  lifecycle.start();
  cleanups.push(async () => {
    await lifecycle.stop();
    await pleg.stop();
  });
  // Syncs wait for the next relist (a fake-clock timer), so time moves in small
  // slices and promise continuations run in between; nothing waits on the workers.
  const step = async (ms = 1_000): Promise<void> => {
    for (let done = 0; done < ms; done += 100) await clock.advance(Math.min(100, ms - done));
  };
  const containers = (podUid: string, name?: string) =>
    runtime
      .listContainersNow()
      .filter(
        (c) => c.labels['io.kubernetes.pod.uid'] === podUid && (!name || c.metadata?.name === name),
      )
      .sort((a, b) => a.createdAt - b.createdAt);
  await step(1_500);
  return { clock, runtime, pleg, source, lifecycle, step, containers };
}

function restartCount(c: { annotations: Record<string, string> } | undefined): number {
  return Number(c?.annotations['io.kubernetes.container.restartCount'] ?? -1);
}

describe('PodLifecycle (in memory, fake clock)', () => {
  it('creates the sandbox, pulls the image and starts the container with kubelet labels', async () => {
    const h = await harness([pod('a')]);
    const [c] = h.containers('a');
    expect(c?.state).toBe('CONTAINER_RUNNING');
    expect(c?.labels).toMatchObject({
      'io.kubernetes.pod.uid': 'a',
      'io.kubernetes.pod.name': 'a',
      'io.kubernetes.pod.namespace': 'default',
      'io.kubernetes.container.name': 'main',
    });
    expect(restartCount(c)).toBe(0);
    const [sb] = h.runtime.listSandboxesNow();
    expect(sb?.labels['io.kubernetes.pod.uid']).toBe('a');
    expect(h.runtime.callCount('pullImage')).toBe(1);
    const view = h.lifecycle.pods()[0];
    expect(view?.status?.phase).toBe('Running');
    expect(view?.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
    expect(view?.status?.containerStatuses?.[0]?.containerID).toBe(`containerd://${c?.id}`);
  });

  it('reports a started pod Running right away: it relists after acting, not a period later', async () => {
    const h = await harness([]);
    h.source.set([pod('fast')]);
    await h.step(200); // far below the 1 s relist period
    expect(h.containers('fast')[0]?.state).toBe('CONTAINER_RUNNING');
    const view = h.lifecycle.pods().find((v) => v.pod.metadata?.uid === 'fast');
    expect(view?.status?.phase).toBe('Running');
    expect(view?.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
  });

  it('CrashLoopBackOff: restarts at once, then after 10 s, 20 s, 40 s … capped at 300 s', async () => {
    const h = await harness([pod('a')]);
    const starts: number[] = [];
    const exitLatest = (): void => {
      const latest = h.containers('a').at(-1)!;
      starts.push(latest.createdAt / 1e6);
      h.runtime.exitContainer(latest.id, 1);
    };
    exitLatest();
    // Watch for up to 12 restarts; each one exits at once.
    for (let i = 0; i < 9; i++) {
      const before = h.containers('a').length;
      for (let t = 0; t < 700 && h.containers('a').length === before; t++) await h.step(500);
      exitLatest();
    }
    await h.step(2_000);
    const gaps = starts.slice(1).map((s, i) => Math.round((s - starts[i]!) / 1000));
    // exit of #0 → #1 at once (one relist), then the doubling delays.
    expect(gaps[0]).toBeLessThanOrEqual(2);
    expect(gaps.slice(1, 8).map((g) => Math.round(g / 10) * 10)).toEqual([
      10, 20, 40, 80, 160, 300, 300,
    ]);
    const waiting = h.lifecycle.pods()[0]?.status?.containerStatuses?.[0];
    expect(waiting?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(waiting?.state?.waiting?.message).toMatch(
      /^back-off 5m0s restarting failed container=main pod=a_default\(a\)$/,
    );
    expect(waiting?.lastState?.terminated?.exitCode).toBe(1);
    expect(restartCount(h.containers('a').at(-1))).toBe(9);
  });

  it('resets the back-off after 10 minutes of running', async () => {
    const h = await harness([pod('a')]);
    const exitLatest = (): void => h.runtime.exitContainer(h.containers('a').at(-1)!.id, 1);
    exitLatest();
    await h.step(2_000); // #1 at once
    exitLatest();
    await h.step(12_000); // #2 after 10 s
    expect(h.containers('a')).toHaveLength(3);
    await h.step(11 * 60_000); // runs for 11 minutes
    exitLatest();
    await h.step(2_000);
    expect(h.containers('a')).toHaveLength(4); // restarted at once again
  });

  it('OnFailure restarts only failures and completes on success; Never does not restart', async () => {
    const h = await harness([
      pod('of', { restartPolicy: 'OnFailure' }),
      pod('nv', { restartPolicy: 'Never' }),
    ]);
    h.runtime.exitContainer(h.containers('of')[0]!.id, 1);
    h.runtime.exitContainer(h.containers('nv')[0]!.id, 1);
    await h.step(3_000);
    expect(h.containers('of')).toHaveLength(2);
    expect(h.containers('nv')).toHaveLength(1);
    h.runtime.exitContainer(h.containers('of')[1]!.id, 0);
    await h.step(3_000);
    expect(h.containers('of')).toHaveLength(2);
    const phases = Object.fromEntries(
      h.lifecycle.pods().map((v) => [v.pod.metadata?.uid, v.status?.phase]),
    );
    expect(phases).toEqual({ of: 'Succeeded', nv: 'Failed' });
    // a completed pod keeps its containers (exit codes, logs) while still desired
    expect(h.containers('nv')[0]?.state).toBe('CONTAINER_EXITED');
  });

  it('runs init containers in order before app containers; a failed init under Never fails the pod', async () => {
    const init = (name: string) => ({ name, image: 'busybox:1', command: ['true'] });
    const h = await harness([pod('i', { initContainers: [init('first'), init('second')] })]);
    expect(h.containers('i').map((c) => c.metadata?.name)).toEqual(['first']);
    h.runtime.exitContainer(h.containers('i', 'first')[0]!.id, 0);
    await h.step(2_000);
    expect(h.containers('i').map((c) => c.metadata?.name)).toEqual(['first', 'second']);
    h.runtime.exitContainer(h.containers('i', 'second')[0]!.id, 0);
    await h.step(2_000);
    expect(h.containers('i').map((c) => c.metadata?.name)).toEqual(['first', 'second', 'main']);
    expect(
      h.lifecycle.pods()[0]?.status?.conditions?.find((c) => c.type === 'Initialized')?.status,
    ).toBe('True');

    const f = await harness([pod('f', { restartPolicy: 'Never', initContainers: [init('boom')] })]);
    f.runtime.exitContainer(f.containers('f', 'boom')[0]!.id, 1);
    await f.step(3_000);
    expect(f.containers('f').map((c) => c.metadata?.name)).toEqual(['boom']);
    expect(f.lifecycle.pods()[0]?.status?.phase).toBe('Failed');
  });

  it('restarts a failed init container under Always, with back-off', async () => {
    const h = await harness([pod('i', { initContainers: [{ name: 'init', image: 'busybox:1' }] })]);
    h.runtime.exitContainer(h.containers('i', 'init')[0]!.id, 1);
    await h.step(2_000);
    expect(h.containers('i', 'init')).toHaveLength(2);
    h.runtime.exitContainer(h.containers('i', 'init')[1]!.id, 1);
    await h.step(5_000);
    expect(h.containers('i', 'init')).toHaveLength(2);
    await h.step(7_000);
    expect(h.containers('i', 'init')).toHaveLength(3);
    expect(h.containers('i', 'main')).toHaveLength(0);
  });

  it('starts sidecars first and keeps them running, restarting them even under Never', async () => {
    const h = await harness([
      pod('s', {
        restartPolicy: 'Never',
        initContainers: [{ name: 'side', image: 'busybox:1', restartPolicy: 'Always' }],
      }),
    ]);
    expect(h.containers('s').map((c) => [c.metadata?.name, c.state])).toEqual([
      ['side', 'CONTAINER_RUNNING'],
      ['main', 'CONTAINER_RUNNING'],
    ]);
    h.runtime.exitContainer(h.containers('s', 'side')[0]!.id, 0);
    await h.step(2_000);
    expect(h.containers('s', 'side')).toHaveLength(2);
    expect(h.containers('s', 'side')[1]?.state).toBe('CONTAINER_RUNNING');
  });

  it('kills and restarts a container on a liveness restart request, with the probe grace period', async () => {
    let restartListener: ((r: ContainerRestartRequest) => void) | undefined;
    const probes = {
      addPod() {},
      updatePod() {},
      stopLivenessAndStartup() {},
      removePod() {},
      cleanupPods() {},
      updatePodStatus: (_p: k8s.Pod, s: k8s.PodStatus) => s,
      results: () => {
        throw new Error('unused');
      },
      subscribe: () => () => {},
      onRestartRequest: (l: (r: ContainerRestartRequest) => void) => {
        restartListener = l;
        return () => {};
      },
      workerCount: () => 0,
      start() {},
      stop: async () => {},
    };
    const h = await harness([pod('l')], { probes });
    const first = h.containers('l')[0]!;
    restartListener!({
      probeType: 'Liveness',
      podUid: 'l',
      podName: 'l',
      namespace: 'default',
      containerName: 'main',
      containerId: `containerd://${first.id}`,
      message: 'Container main failed liveness probe, will be restarted',
      gracePeriodSeconds: 7,
    });
    await h.step(2_000);
    const all = h.containers('l');
    expect(all).toHaveLength(2);
    expect(all[0]?.state).toBe('CONTAINER_EXITED');
    expect(all[1]?.state).toBe('CONTAINER_RUNNING');
    expect(restartCount(all[1])).toBe(1);
  });

  it('replaces a container whose spec changed (hash), keeping the sandbox', async () => {
    const h = await harness([pod('u')]);
    const sandbox = h.runtime.listSandboxesNow()[0]!.id;
    h.source.set([pod('u', { containers: [{ name: 'main', image: 'busybox:2' }] })]);
    await h.step(3_000);
    const all = h.containers('u');
    expect(all.map((c) => [c.image?.image, c.state])).toEqual([
      ['busybox:1', 'CONTAINER_EXITED'],
      ['busybox:2', 'CONTAINER_RUNNING'],
    ]);
    expect(h.runtime.listSandboxesNow().map((s) => s.id)).toEqual([sandbox]);
  });

  it('removing a pod stops its containers and removes sandbox and containers', async () => {
    const h = await harness([pod('r'), pod('keep')]);
    h.source.set([pod('keep')]);
    await h.step(3_000);
    expect(h.containers('r')).toEqual([]);
    expect(h.runtime.listSandboxesNow().map((s) => s.labels['io.kubernetes.pod.uid'])).toEqual([
      'keep',
    ]);
    expect(h.lifecycle.workers.knownPods()).toEqual(['keep']);
  });

  it('image pull policies: Never without the image waits with ErrImageNeverPull; failures back off', async () => {
    const h = await harness([
      pod('n', { containers: [{ name: 'main', image: 'missing:1', imagePullPolicy: 'Never' }] }),
    ]);
    const st = h.lifecycle.pods()[0]?.status?.containerStatuses?.[0];
    expect(st?.state?.waiting?.reason).toBe('ErrImageNeverPull');
    expect(h.runtime.callCount('pullImage')).toBe(0);

    const p = await harness([pod('p', { containers: [{ name: 'main', image: 'broken:1' }] })], {});
    p.runtime.failAlways('pullImage', new Error('registry says no'));
    const reasons: string[] = [];
    p.lifecycle.manager.onContainerStateChange((c) => {
      if (c.podUid === 'p2' && c.reason && reasons.at(-1) !== c.reason) reasons.push(c.reason);
    });
    p.source.set([pod('p2', { containers: [{ name: 'main', image: 'broken:2' }] })]);
    await p.step(5_000);
    expect(reasons).toEqual(['ErrImagePull', 'ImagePullBackOff']);
    const pulls = p.runtime.callCount('pullImage');
    await p.step(3_000);
    expect(p.runtime.callCount('pullImage')).toBe(pulls); // no pull while backing off
    p.runtime.clearFaults('pullImage');
    await p.step(10_000);
    expect(p.containers('p2')[0]?.state).toBe('CONTAINER_RUNNING');
  });

  it('adopts pods already running after an agent restart: nothing is restarted', async () => {
    const clock = new FakeClock();
    const runtime = createFakeRuntime({ clock, autoEvents: false });
    const first = await harness([pod('a')], { runtime, clock });
    const before = first.containers('a').map((c) => c.id);
    await first.lifecycle.stop();
    await first.pleg.stop();
    const creates = runtime.callCount('createContainer');
    const sandboxes = runtime.callCount('runPodSandbox');
    const second = await harness([pod('a')], { runtime, clock });
    await second.step(5_000);
    expect(second.containers('a').map((c) => c.id)).toEqual(before);
    expect(runtime.callCount('createContainer')).toBe(creates);
    expect(runtime.callCount('runPodSandbox')).toBe(sandboxes);
    expect(runtime.callCount('stopContainer')).toBe(0);
  });

  it('stops orphaned pods (in the runtime, not desired) once every source has spoken', async () => {
    const clock = new FakeClock();
    const runtime = createFakeRuntime({ clock, autoEvents: false });
    const sb = runtime.addSandbox({ uid: 'ghost', name: 'ghost', namespace: 'default' });
    runtime.addContainer(sb, { name: 'c' });
    const h = await harness([pod('a')], { runtime, clock });
    await h.step(4_000);
    expect(runtime.listSandboxesNow().map((s) => s.labels['io.kubernetes.pod.uid'])).toEqual(['a']);
  });

  it('stop() leaves every pod running', async () => {
    const h = await harness([pod('a')]);
    await h.lifecycle.stop();
    await h.step(5_000);
    expect(h.containers('a')[0]?.state).toBe('CONTAINER_RUNNING');
    expect(h.runtime.callCount('stopContainer')).toBe(0);
  });
});

describe('PodLifecycle in API mode (status manager, mirror pods)', () => {
  function recordingStatusManager(): PodStatusManager & {
    log: Array<{ uid: string; what: string; phase?: string }>;
  } {
    const inner = createCachingPodStatusManager();
    const log: Array<{ uid: string; what: string; phase?: string }> = [];
    return {
      ...inner,
      log,
      setPodStatus(p, status) {
        inner.setPodStatus(p, status);
        log.push({
          uid: p.metadata.uid ?? '',
          what: 'set',
          ...(status.phase ? { phase: status.phase } : {}),
        });
      },
      podTerminated(p) {
        log.push({ uid: p.metadata.uid ?? '', what: 'terminated' });
      },
    };
  }

  function apiPod(uid: string, extra: Partial<k8s.ObjectMeta> = {}): k8s.Pod {
    const p = pod(uid);
    p.metadata = { ...p.metadata, ...extra, annotations: { 'kubernetes.io/config.source': 'api' } };
    return p;
  }

  it('a pod deleted through the API is stopped, ends in a terminal phase with every container terminated, then podTerminated', async () => {
    const api = new TestSource('api');
    const statusManager = recordingStatusManager();
    const h = await harness([], { extraSources: [api], statusManager });
    api.set([apiPod('d')]);
    await h.step(2_000);
    expect(h.containers('d')[0]?.state).toBe('CONTAINER_RUNNING');
    expect(statusManager.getPodStatus('d')?.phase).toBe('Running');
    api.set([
      apiPod('d', { deletionTimestamp: '2026-01-01T00:01:00Z', deletionGracePeriodSeconds: 5 }),
    ]);
    await h.step(10_000);
    const final = statusManager.getPodStatus('d');
    const terminated = final?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated).toBeDefined();
    // restartPolicy Always, yet terminal: Succeeded when every container exited 0.
    expect(final?.phase).toBe(terminated?.exitCode === 0 ? 'Succeeded' : 'Failed');
    const entries = statusManager.log.filter((e) => e.uid === 'd');
    const terminatedAt = entries.findIndex((e) => e.what === 'terminated');
    expect(terminatedAt).toBeGreaterThan(0);
    expect(entries[terminatedAt - 1]).toMatchObject({ what: 'set', phase: final?.phase });
    expect(h.containers('d')).toEqual([]);
  });

  it('a pod that arrives already being deleted is never started', async () => {
    const api = new TestSource('api');
    const h = await harness([], { extraSources: [api] });
    api.set([apiPod('late', { deletionTimestamp: '2026-01-01T00:00:00Z' })]);
    await h.step(3_000);
    expect(h.containers('late')).toEqual([]);
    expect(h.runtime.listSandboxesNow()).toEqual([]);
  });

  it('keeps a mirror pod per static pod: creates it, replaces a stale one, deletes orphans', async () => {
    const api = new TestSource('api');
    const created: string[] = [];
    const deleted: Array<[string, string | undefined]> = [];
    const mirrorClient: MirrorClient = {
      createMirrorPod: async (p) => {
        created.push(p.metadata.name ?? '');
      },
      deleteMirrorPod: async (fullName, uid) => {
        deleted.push([fullName, uid]);
        return true;
      },
    };
    const staticPod = pod('static-uid', {}, 'web');
    staticPod.metadata.annotations = {
      'kubernetes.io/config.source': 'file',
      'kubernetes.io/config.hash': 'static-uid',
    };
    const h = await harness([staticPod], { extraSources: [api], mirrorClient });
    expect(created).toEqual(['web']);
    const mirror = (uid: string, hash: string, name = 'web'): k8s.Pod => ({
      ...pod(uid, {}, name),
      metadata: {
        name,
        namespace: 'default',
        uid,
        annotations: { 'kubernetes.io/config.mirror': hash, 'kubernetes.io/config.source': 'api' },
      },
    });
    // The API server now has the mirror: nothing more to do; it is never run.
    api.set([mirror('m1', 'static-uid')]);
    await h.step(3_000);
    expect(created).toEqual(['web']);
    expect(h.containers('m1')).toEqual([]);
    // A stale mirror (another version of the static pod) is replaced.
    api.set([mirror('m2', 'old-hash')]);
    await h.step(3_000);
    expect(deleted).toContainEqual(['web_default', 'm2']);
    expect(created).toEqual(['web', 'web']);
    // A mirror whose static pod does not exist is deleted by housekeeping.
    api.set([mirror('m1', 'static-uid'), mirror('m3', 'gone', 'ghost')]);
    await h.step(3_000);
    expect(deleted).toContainEqual(['ghost_default', 'm3']);
    expect(h.lifecycle.pods().map((v) => v.pod.metadata.uid)).toEqual(['static-uid']);
  });

  it('evicts a pod: stopped, final status Failed/Evicted with the DisruptionTarget condition, never restarted', async () => {
    const api = new TestSource('api');
    const statusManager = recordingStatusManager();
    const h = await harness([], { extraSources: [api], statusManager });
    api.set([apiPod('ev')]);
    await h.step(2_000);
    expect(h.containers('ev')[0]?.state).toBe('CONTAINER_RUNNING');
    const message = 'The node was low on resource: memory. ';
    let evicted = false;
    void h.lifecycle
      .evictPod(h.lifecycle.pods()[0]!.pod, {
        gracePeriodSeconds: 1,
        message,
        status: {
          phase: 'Failed',
          reason: 'Evicted',
          message,
          conditions: [
            {
              type: 'DisruptionTarget',
              status: 'True',
              reason: 'TerminationByKubelet',
              message,
            },
          ],
        },
      })
      .then(() => {
        evicted = true;
      });
    await h.step(5_000);
    expect(evicted).toBe(true);
    const final = statusManager.getPodStatus('ev');
    expect(final).toMatchObject({ phase: 'Failed', reason: 'Evicted', message });
    expect(final?.conditions?.find((c) => c.type === 'DisruptionTarget')?.status).toBe('True');
    expect(final?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
    // Still desired, yet never started again.
    await h.step(70_000);
    expect(h.containers('ev').filter((c) => c.state === 'CONTAINER_RUNNING')).toEqual([]);
    // Deleted from the API afterwards: only cleaned up, no status reported again.
    const reported = statusManager.log.length;
    api.set([]);
    await h.step(5_000);
    expect(statusManager.log.slice(reported)).toEqual([]);
  });

  it('a pod already terminal in the API server is not started (agent restart after eviction)', async () => {
    const api = new TestSource('api');
    const h = await harness([], { extraSources: [api] });
    const done = apiPod('done');
    done.status = { phase: 'Failed', reason: 'Evicted' };
    api.set([done]);
    await h.step(3_000);
    expect(h.containers('done')).toEqual([]);
    expect(h.runtime.listSandboxesNow()).toEqual([]);
  });

  it('ClusterFirst without clusterDNS: a MissingClusterDNS Warning, not for a host-network ClusterFirst pod (kubelet GetPodDNS)', async () => {
    const events: Array<{
      reason: string;
      type: string;
      message: string;
      uid?: string | undefined;
    }> = [];
    const recorder: EventRecorder = {
      event: (ref, type, reason, message) => events.push({ reason, type, message, uid: ref.uid }),
    };
    const h = await harness(
      [pod('host-default'), pod('cluster-first', { dnsPolicy: 'ClusterFirstWithHostNet' })],
      { recorder },
    );
    await h.step(2_000);
    expect(h.containers('cluster-first')[0]?.state).toBe('CONTAINER_RUNNING');
    expect(events.filter((e) => e.reason === 'MissingClusterDNS')).toEqual([
      {
        reason: 'MissingClusterDNS',
        type: 'Warning',
        uid: 'cluster-first',
        message:
          'pod: "cluster-first_default(cluster-first)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
      },
    ]);
  });

  it('a pod that completed: its volumes are removed, its containers and pod directory kept (volume_manager_test.go)', async () => {
    const h = await harness([pod('vol', { restartPolicy: 'Never' })]);
    const podDir = '/nodeagent-test/root/pods/vol';
    const emptyDir = `${podDir}/volumes/kubernetes.io~empty-dir/scratch`;
    memoryFs.dirs.add(podDir);
    memoryFs.dirs.add(emptyDir);
    await h.step(2_000);
    expect(memoryFs.dirs.has(emptyDir)).toBe(true);
    h.runtime.exitContainer(h.containers('vol')[0]!.id, 0);
    await h.step(3_000);
    expect(memoryFs.dirs.has(emptyDir)).toBe(false);
    expect(memoryFs.dirs.has(podDir)).toBe(true);
    expect(h.containers('vol')[0]?.state).toBe('CONTAINER_EXITED');
  });

  it('a pod that completed before an agent restart keeps its containers (logs, exit code) until deleted', async () => {
    // kubelet: only container GC (or the pod's deletion) removes a terminal pod's
    // containers; a restart must not (restart_test.go, `kubectl logs` of a Job pod).
    const clock = new FakeClock();
    const runtime = createFakeRuntime({ clock, autoEvents: false });
    const before = new TestSource('api');
    const h1 = await harness([], { runtime, clock, extraSources: [before] });
    const done = apiPod('done');
    done.spec.restartPolicy = 'Never';
    before.set([done]);
    await h1.step(2_000);
    h1.runtime.exitContainer(h1.containers('done')[0]!.id, 0);
    await h1.step(3_000);
    const [exited] = h1.containers('done');
    expect(exited?.state).toBe('CONTAINER_EXITED');
    await h1.lifecycle.stop();
    await h1.pleg.stop();

    // The agent comes back; the API server has the pod Succeeded.
    const after = new TestSource('api');
    const h2 = await harness([], { runtime, clock, extraSources: [after] });
    after.set([{ ...done, status: { phase: 'Succeeded' } }]);
    await h2.step(5_000);
    expect(h2.containers('done').map((c) => [c.id, c.state])).toEqual([
      [exited!.id, 'CONTAINER_EXITED'],
    ]);
    expect(h2.runtime.listSandboxesNow()).toHaveLength(1);

    // Deleted from the API: now it is cleaned up.
    after.set([]);
    await h2.step(5_000);
    expect(h2.containers('done')).toEqual([]);
    expect(h2.runtime.listSandboxesNow()).toEqual([]);
  });
});

describe('PodLifecycle admission (kubelet canAdmitPod / rejectPod)', () => {
  const node = {
    metadata: { name: 'node-1', labels: { 'kubernetes.io/os': 'linux' } },
    status: { allocatable: { cpu: '1', memory: '1Gi', pods: '110' } },
  };
  function cpuPod(uid: string, cpu: string, created: string): k8s.Pod {
    const p = pod(uid, {
      containers: [
        {
          name: 'main',
          image: 'busybox:1',
          command: ['sleep', '3600'],
          resources: { requests: { cpu } },
        },
      ],
    });
    p.metadata.creationTimestamp = created;
    return p;
  }

  it('rejects what does not fit, oldest first: Failed, the reason, "Pod was rejected: …", a Warning event, nothing started', async () => {
    const events: Array<{
      reason: string;
      type: string;
      message: string;
      uid: string | undefined;
    }> = [];
    const recorder: EventRecorder = {
      event: (ref, type, reason, message) => events.push({ reason, type, message, uid: ref.uid }),
    };
    const statusManager = createCachingPodStatusManager();
    const handler = new PredicateAdmitHandler({ node: () => node });
    // Given newest first: admission still goes by creation time, so "old" gets the CPU.
    const h = await harness(
      [
        cpuPod('new', '600m', '2026-01-01T00:00:02Z'),
        cpuPod('old', '600m', '2026-01-01T00:00:01Z'),
      ],
      { admitHandlers: [handler], recorder, statusManager },
    );
    await h.step(2_000);
    expect(h.containers('old')[0]?.state).toBe('CONTAINER_RUNNING');
    expect(h.containers('new')).toEqual([]);
    expect(h.runtime.listSandboxesNow().map((sb) => sb.metadata?.uid)).toEqual(['old']);
    const rejected = h.lifecycle.pods().find((v) => v.pod.metadata.uid === 'new')?.status;
    expect(rejected).toEqual({
      phase: 'Failed',
      reason: 'OutOfcpu',
      message:
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000",
      qosClass: 'Burstable',
    });
    expect(statusManager.getPodStatus('new')?.phase).toBe('Failed');
    expect(events.filter((e) => e.uid === 'new')).toEqual([
      {
        reason: 'OutOfcpu',
        type: 'Warning',
        message: "Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000",
        uid: 'new',
      },
    ]);
    // Never retried, even on the periodic resync.
    await h.step(70_000);
    expect(h.containers('new')).toEqual([]);
    expect(events.filter((e) => e.uid === 'new')).toHaveLength(1);
  });

  it('a removed pod frees its resources for the next one; a removed rejected pod leaves nothing behind', async () => {
    const handler = new PredicateAdmitHandler({ node: () => node });
    const h = await harness(
      [cpuPod('a', '700m', '2026-01-01T00:00:01Z'), cpuPod('b', '700m', '2026-01-01T00:00:02Z')],
      { admitHandlers: [handler] },
    );
    await h.step(2_000);
    expect(h.lifecycle.pods().find((v) => v.pod.metadata.uid === 'b')?.status?.reason).toBe(
      'OutOfcpu',
    );
    h.source.set([]);
    await h.step(5_000);
    expect(h.runtime.listSandboxesNow()).toEqual([]);
    expect(h.lifecycle.workers.knownPods()).toEqual([]);
    h.source.set([cpuPod('c', '900m', '2026-01-01T00:00:03Z')]);
    await h.step(2_000);
    expect(h.containers('c')[0]?.state).toBe('CONTAINER_RUNNING');
  });

  it('a handler that throws rejects the pod (UnexpectedAdmissionError) and the agent goes on', async () => {
    const h = await harness([pod('x')], {
      admitHandlers: [
        {
          name: 'broken',
          admit: () => {
            throw new Error('boom');
          },
        },
      ],
    });
    await h.step(2_000);
    expect(h.lifecycle.pods()[0]?.status).toMatchObject({
      phase: 'Failed',
      reason: 'UnexpectedAdmissionError',
      message: 'Pod was rejected: Admission handler broken failed: boom',
    });
    expect(h.containers('x')).toEqual([]);
  });
});

describe('PodLifecycle activeDeadlineSeconds (kubelet activeDeadlineHandler)', () => {
  it('stops the pod when its deadline passes: Failed, DeadlineExceeded, a Normal event, containers killed and not restarted', async () => {
    const events: Array<{ reason: string; type: string }> = [];
    const recorder: EventRecorder = {
      event: (_ref, type, reason) => events.push({ reason, type }),
    };
    const h = await harness([pod('ads', { activeDeadlineSeconds: 30 })], { recorder });
    await h.step(2_000);
    expect(h.containers('ads')[0]?.state).toBe('CONTAINER_RUNNING');
    await h.step(25_000);
    expect(h.containers('ads')[0]?.state).toBe('CONTAINER_RUNNING');
    await h.step(10_000);
    const status = h.lifecycle.pods()[0]?.status;
    expect(status).toMatchObject({
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
    expect(h.containers('ads').map((c) => c.state)).toEqual(['CONTAINER_EXITED']);
    expect(events).toContainEqual({ reason: 'DeadlineExceeded', type: 'Normal' });
    await h.step(60_000);
    expect(h.containers('ads')).toHaveLength(1); // never restarted
  });

  it('a deadline set later (pod update) applies from the pod start time', async () => {
    const h = await harness([pod('later')]);
    await h.step(20_000);
    expect(h.containers('later')[0]?.state).toBe('CONTAINER_RUNNING');
    h.source.set([pod('later', { activeDeadlineSeconds: 25 })]);
    await h.step(3_000);
    expect(h.containers('later')[0]?.state).toBe('CONTAINER_RUNNING');
    await h.step(5_000);
    expect(h.lifecycle.pods()[0]?.status?.reason).toBe('DeadlineExceeded');
    expect(h.containers('later')[0]?.state).toBe('CONTAINER_EXITED');
  });
});

describe('container lifecycle parity with the kubelet e2e suite (fake clock)', () => {
  type Ev = { uid: string | undefined; type: string; reason: string; message: string };
  function recording(): { recorder: EventRecorder; events: Ev[] } {
    const events: Ev[] = [];
    const recorder: EventRecorder = {
      event: (ref, type, reason, message) => events.push({ uid: ref.uid, type, reason, message }),
    };
    return { recorder, events };
  }

  /** Makes the fake runtime's ExecSync answer per command, recording every call. */
  function scriptExec(
    runtime: FakeRuntime,
    answer: (cmd: string[]) => { exitCode: number; stdout?: string; stderr?: string },
  ): string[][] {
    const calls: string[][] = [];
    runtime.execSync = async (req) => {
      const cmd = [...(req?.cmd ?? [])];
      calls.push(cmd);
      const a = answer(cmd);
      return {
        exitCode: a.exitCode,
        stdout: new TextEncoder().encode(a.stdout ?? ''),
        stderr: new TextEncoder().encode(a.stderr ?? ''),
      };
    };
    return calls;
  }

  const failingPostStart = (restartPolicy: k8s.RestartPolicy): k8s.Pod =>
    pod('hook', {
      restartPolicy,
      containers: [
        {
          name: 'main',
          image: 'busybox:1',
          command: ['sleep', '3600'],
          lifecycle: {
            postStart: { exec: { command: ['sh', '-c', 'exit 1'] } },
            preStop: { exec: { command: ['sh', '-c', 'echo bye'] } },
          },
        },
      ],
    });

  it('a failing PostStart hook (lifecycle_hook.go): "PostStartHook failed" event, killed through its preStop hook, waiting PostStartHookError, restarted', async () => {
    const { recorder, events } = recording();
    const h = await harness([], { recorder });
    const calls = scriptExec(h.runtime, (cmd) =>
      cmd.join(' ') === 'sh -c exit 1'
        ? { exitCode: 1, stdout: 'out', stderr: 'boom' }
        : { exitCode: 0 },
    );
    const seen: k8s.ContainerStatus[] = [];
    h.lifecycle.manager.onStatus((_p, s) => seen.push(...(s.containerStatuses ?? [])));
    h.source.set([failingPostStart('Always')]);
    await h.step(2_000);

    const hookEvents = events.filter((e) => e.uid === 'hook');
    expect(hookEvents).toContainEqual({
      uid: 'hook',
      type: 'Warning',
      reason: 'FailedPostStartHook',
      message: 'PostStartHook failed',
    });
    expect(hookEvents).toContainEqual({
      uid: 'hook',
      type: 'Normal',
      reason: 'Killing',
      message: 'FailedPostStartHook',
    });
    // killed like any container: the preStop hook ran before StopContainer
    expect(calls.map((c) => c.join(' '))).toContain('sh -c echo bye');
    expect(h.containers('hook')[0]?.state).toBe('CONTAINER_EXITED');
    const waiting = seen
      .map((c) => c.state?.waiting)
      .find((w) => w?.reason === 'PostStartHookError');
    expect(waiting?.message).toBe(
      `Exec lifecycle hook ([sh -c exit 1]) for Container "main" in Pod "hook_default(hook)" failed - error: command 'sh -c exit 1' exited with 1: boom, message: "outboom"`,
    );
    // Always: started again at once, then CrashLoopBackOff
    expect(h.containers('hook').length).toBeGreaterThanOrEqual(2);
  });

  it('a failing PostStart hook under restartPolicy Never: not restarted, reported Terminated (not Waiting), pod Failed', async () => {
    const h = await harness([]);
    scriptExec(h.runtime, (cmd) => ({ exitCode: cmd.join(' ') === 'sh -c exit 1' ? 1 : 0 }));
    h.source.set([failingPostStart('Never')]);
    await h.step(4_000);
    expect(h.containers('hook')).toHaveLength(1);
    const status = h.lifecycle.pods()[0]?.status;
    expect(status?.phase).toBe('Failed');
    expect(status?.containerStatuses?.[0]?.state?.waiting).toBeUndefined();
    expect(status?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
  });

  it("starts app containers one after the other: the first one's PostStart hook (sleep 3 s) holds back the second", async () => {
    const h = await harness([]);
    h.source.set([
      pod('seq', {
        containers: [
          {
            name: 'first',
            image: 'busybox:1',
            lifecycle: { postStart: { sleep: { seconds: 3 } } },
          },
          { name: 'second', image: 'busybox:1' },
        ],
      }),
    ]);
    await h.step(1_500);
    expect(h.containers('seq').map((c) => c.metadata?.name)).toEqual(['first']);
    await h.step(3_000);
    expect(h.containers('seq').map((c) => c.metadata?.name)).toEqual(['first', 'second']);
  });

  it('a sidecar with a startup probe holds back the next init container and the app containers until the probe succeeds', async () => {
    const startup = new Map<string, 'Success' | 'Failure'>();
    let listener: ((u: ProbeResultUpdate) => void) | undefined;
    const probes = {
      addPod() {},
      updatePod() {},
      stopLivenessAndStartup() {},
      removePod() {},
      cleanupPods() {},
      updatePodStatus: (_p: k8s.Pod, s: k8s.PodStatus) => s,
      results: () => ({
        probeType: 'Startup' as const,
        get: (id: string) => startup.get(id),
        set() {},
        remove() {},
        subscribe: () => () => {},
      }),
      subscribe: (l: (u: ProbeResultUpdate) => void) => {
        listener = l;
        return () => {};
      },
      onRestartRequest: () => () => {},
      workerCount: () => 0,
      start() {},
      stop: async () => {},
    };
    const h = await harness([], { probes });
    h.source.set([
      pod('sc', {
        initContainers: [
          {
            name: 'side',
            image: 'busybox:1',
            restartPolicy: 'Always',
            startupProbe: { exec: { command: ['true'] } },
          },
          { name: 'init', image: 'busybox:1', command: ['true'] },
        ],
      }),
    ]);
    await h.step(5_000);
    expect(h.containers('sc').map((c) => c.metadata?.name)).toEqual(['side']);
    const side = h.containers('sc', 'side')[0]!;
    startup.set(`containerd://${side.id}`, 'Success');
    listener!({
      probeType: 'Startup',
      containerId: `containerd://${side.id}`,
      result: 'Success',
      podUid: 'sc',
      podName: 'sc',
      namespace: 'default',
      containerName: 'side',
    });
    await h.step(500);
    expect(h.containers('sc').map((c) => c.metadata?.name)).toEqual(['side', 'init']);
    h.runtime.exitContainer(h.containers('sc', 'init')[0]!.id, 0);
    await h.step(2_000);
    expect(h.containers('sc').map((c) => c.metadata?.name)).toEqual(['side', 'init', 'main']);
  });

  it('a Never pod whose second init container fails (init_container.go): Failed, init2 Terminated, the app container still Waiting PodInitializing, Initialized names init2', async () => {
    const statusManager = createCachingPodStatusManager();
    const h = await harness([], { statusManager });
    const init = (name: string) => ({ name, image: 'busybox:1', command: ['true'] });
    h.source.set([
      pod('nv', { restartPolicy: 'Never', initContainers: [init('init1'), init('init2')] }),
    ]);
    await h.step(1_500);
    h.runtime.exitContainer(h.containers('nv', 'init1')[0]!.id, 0);
    await h.step(2_000);
    h.runtime.exitContainer(h.containers('nv', 'init2')[0]!.id, 1);
    await h.step(4_000);
    const s = statusManager.getPodStatus('nv');
    expect(s?.phase).toBe('Failed');
    expect(s?.initContainerStatuses?.map((c) => c.state?.terminated?.exitCode)).toEqual([0, 1]);
    expect(s?.containerStatuses?.[0]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(s?.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [init2]',
    });
    expect(s?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'PodFailed',
    });
    expect(h.containers('nv', 'main')).toHaveLength(0);
  });

  it('a container still running after KillPod (a start that completed late) is killed again before the pod is reported terminated', async () => {
    const api = new TestSource('api');
    const statusManager = createCachingPodStatusManager();
    const h = await harness([], { extraSources: [api], statusManager });
    const p = pod('late');
    p.metadata = { ...p.metadata, annotations: { 'kubernetes.io/config.source': 'api' } };
    api.set([p]);
    await h.step(2_000);
    // The first StopContainer is lost (the container keeps running), as when a start
    // sent by a cut-short sync completes in the runtime after the kill.
    const stop = h.runtime.stopContainer;
    let lost = 0;
    h.runtime.stopContainer = async (req, options) => {
      if (lost++ === 0) return {};
      return stop(req, options);
    };
    api.set([
      {
        ...p,
        metadata: {
          ...p.metadata,
          deletionTimestamp: '2026-01-01T00:00:00Z',
          deletionGracePeriodSeconds: 2,
        },
      },
    ]);
    await h.step(5_000);
    expect(lost).toBeGreaterThanOrEqual(2);
    expect(h.containers('late')).toEqual([]);
    expect(
      statusManager.getPodStatus('late')?.containerStatuses?.[0]?.state?.terminated,
    ).toBeDefined();
  });

  it('deleting a pod with sidecars: every preStop hook runs at once; the app container stops first, then the sidecars in reverse order of definition', async () => {
    const api = new TestSource('api');
    const h = await harness([], { extraSources: [api] });
    const log: string[] = [];
    const names = new Map<string, string>();
    h.runtime.execSync = async (req) => {
      log.push(`preStop ${(req?.cmd ?? []).join(' ')}`);
      return { exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array() };
    };
    const stop = h.runtime.stopContainer;
    h.runtime.stopContainer = async (req, options) => {
      log.push(`stop ${names.get(req?.containerId ?? '') ?? '?'}`);
      return stop(req, options);
    };
    const hook = (c: string) => ({ preStop: { exec: { command: ['echo', c] } } });
    const p = pod('ord', {
      initContainers: [
        { name: 'side-1', image: 'busybox:1', restartPolicy: 'Always', lifecycle: hook('side-1') },
        { name: 'side-2', image: 'busybox:1', restartPolicy: 'Always', lifecycle: hook('side-2') },
      ],
      containers: [{ name: 'main', image: 'busybox:1', lifecycle: hook('main') }],
    });
    p.metadata = { ...p.metadata, annotations: { 'kubernetes.io/config.source': 'api' } };
    api.set([p]);
    await h.step(4_000);
    for (const c of h.containers('ord')) names.set(c.id, c.metadata?.name ?? '');
    expect(names.size).toBe(3);
    api.set([
      {
        ...p,
        metadata: {
          ...p.metadata,
          deletionTimestamp: '2026-01-01T00:00:00Z',
          deletionGracePeriodSeconds: 5,
        },
      },
    ]);
    await h.step(5_000);
    const stops = log.filter((l) => l.startsWith('stop '));
    expect(stops).toEqual(['stop main', 'stop side-2', 'stop side-1']);
    const firstSidecarStop = log.indexOf('stop side-2');
    for (const c of ['main', 'side-1', 'side-2'])
      expect(log.indexOf(`preStop echo ${c}`), c).toBeLessThan(firstSidecarStop);
    expect(h.containers('ord')).toEqual([]);
  });

  it('deleting a pod: a Normal Killing "Stopping container <name>" event per container', async () => {
    const { recorder, events } = recording();
    const api = new TestSource('api');
    const h = await harness([], { extraSources: [api], recorder });
    const p = pod('del');
    p.metadata = { ...p.metadata, annotations: { 'kubernetes.io/config.source': 'api' } };
    api.set([p]);
    await h.step(2_000);
    api.set([
      {
        ...p,
        metadata: {
          ...p.metadata,
          deletionTimestamp: '2026-01-01T00:00:00Z',
          deletionGracePeriodSeconds: 2,
        },
      },
    ]);
    await h.step(5_000);
    expect(events).toContainEqual({
      uid: 'del',
      type: 'Normal',
      reason: 'Killing',
      message: 'Stopping container main',
    });
  });
});
