import {
  InvalidConfigError,
  statsTime,
  type EventType,
  type FsStats,
  type k8s,
  type NodeStats,
  type PodStats,
  type StatsProvider,
  type Summary,
} from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import {
  EvictionManager,
  type EvictionKillPodOptions,
  type EvictionManagerOptions,
} from './eviction-manager.js';
import {
  cachedStatsFunc,
  rankDiskPressureFunc,
  rankMemoryPressure,
  rankPidPressure,
} from './ranking.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;

interface PodSpecOptions {
  priority?: number;
  requests?: Record<string, string>;
  limits?: Record<string, string>;
  annotations?: Record<string, string>;
  terminationGracePeriodSeconds?: number;
  tolerations?: k8s.Toleration[];
}

function makePod(name: string, o: PodSpecOptions = {}): k8s.Pod {
  const resources: k8s.ResourceRequirements = {};
  if (o.requests) resources.requests = o.requests;
  if (o.limits) resources.limits = o.limits;
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: {
      containers: [{ name, image: 'busybox', resources }],
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.terminationGracePeriodSeconds !== undefined
        ? { terminationGracePeriodSeconds: o.terminationGracePeriodSeconds }
        : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
    },
  };
}

interface UsageOptions {
  memory?: number;
  rootfs?: number;
  logs?: number;
  inodes?: number;
  processes?: number;
}

function makePodStats(pod: k8s.Pod, u: UsageOptions, time: string): PodStats {
  const name = pod.spec.containers[0]?.name ?? 'c';
  const fs = (used: number | undefined, inodes?: number): FsStats => ({
    time,
    usedBytes: used ?? 0,
    ...(inodes !== undefined ? { inodesUsed: inodes } : {}),
  });
  return {
    podRef: { name: pod.metadata.name ?? '', namespace: 'default', uid: pod.metadata.uid ?? '' },
    startTime: time,
    containers: [
      {
        name,
        startTime: time,
        memory: { time, workingSetBytes: u.memory ?? 0 },
        rootfs: fs(u.rootfs, u.inodes),
        logs: fs(u.logs),
      },
    ],
    memory: { time, workingSetBytes: u.memory ?? 0 },
    process_stats: { process_count: u.processes ?? 0 },
  };
}

/** A StatsProvider whose numbers the test sets; each summary is stamped with the clock. */
class FakeStats implements StatsProvider {
  memoryAvailable = 8 * Gi;
  memoryCapacity = 16 * Gi;
  nodeFs = { available: 50 * Gi, capacity: 100 * Gi, inodesFree: 900_000, inodes: 1_000_000 };
  imageFs = { available: 50 * Gi, capacity: 100 * Gi, inodesFree: 900_000, inodes: 1_000_000 };
  pids = { max: 32768, cur: 200 };
  usage = new Map<k8s.Pod, UsageOptions>();
  calls = 0;
  constructor(private readonly clock: FakeClock) {}

  summary(): Promise<Summary> {
    this.calls++;
    const time = statsTime(this.clock.now());
    const node: NodeStats = {
      nodeName: 'node-a',
      startTime: time,
      memory: {
        time,
        availableBytes: this.memoryAvailable,
        workingSetBytes: this.memoryCapacity - this.memoryAvailable,
      },
      fs: {
        time,
        availableBytes: this.nodeFs.available,
        capacityBytes: this.nodeFs.capacity,
        inodesFree: this.nodeFs.inodesFree,
        inodes: this.nodeFs.inodes,
      },
      runtime: {
        imageFs: {
          time,
          availableBytes: this.imageFs.available,
          capacityBytes: this.imageFs.capacity,
          inodesFree: this.imageFs.inodesFree,
          inodes: this.imageFs.inodes,
        },
      },
      rlimit: { time, maxpid: this.pids.max, curproc: this.pids.cur },
    };
    const pods = [...this.usage].map(([pod, u]) => makePodStats(pod, u, time));
    return Promise.resolve({ node, pods });
  }
  async listPodStats(): Promise<PodStats[]> {
    return (await this.summary()).pods;
  }
  async nodeFsStats(): Promise<FsStats> {
    return (await this.summary()).node.fs ?? { time: '' };
  }
  async imageFsStats(): Promise<FsStats> {
    return (await this.summary()).node.runtime?.imageFs ?? { time: '' };
  }
  async rlimitStats(): Promise<{ time: string }> {
    return (await this.summary()).node.rlimit ?? { time: '' };
  }
}

interface Recorded {
  object: k8s.ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

function setup(extra: Partial<EvictionManagerOptions> = {}) {
  const clock = new FakeClock();
  const stats = new FakeStats(clock);
  const pods: k8s.Pod[] = [];
  const killed: { pod: k8s.Pod; options: EvictionKillPodOptions }[] = [];
  const events: Recorded[] = [];
  const reclaims: string[] = [];
  const metrics = new InMemoryMetrics();
  const manager = new EvictionManager({
    stats,
    clock,
    activePods: () => pods,
    killPod: async (pod, options) => {
      killed.push({ pod, options });
      const i = pods.indexOf(pod);
      if (i >= 0) pods.splice(i, 1);
      stats.usage.delete(pod);
    },
    recorder: {
      event: (object, type, reason, message) => events.push({ object, type, reason, message }),
    },
    nodeRef: { kind: 'Node', name: 'node-a', uid: 'node-a' },
    metrics,
    ...extra,
  });
  const addPod = (pod: k8s.Pod, usage: UsageOptions): k8s.Pod => {
    pods.push(pod);
    stats.usage.set(pod, usage);
    return pod;
  };
  return { clock, stats, pods, killed, events, reclaims, metrics, manager, addPod };
}

describe('EvictionManager: memory.available (hard)', () => {
  it('evicts one pod per pass, best-ranked first, with the kubelet status, message and events', async () => {
    const { clock, stats, killed, events, metrics, manager, addPod } = setup();
    const guaranteed = addPod(
      makePod('guaranteed', { requests: { memory: '1Gi' }, limits: { memory: '1Gi' } }),
      {
        memory: 500 * Mi,
      },
    );
    addPod(makePod('hog'), { memory: 200 * Mi });
    const small = addPod(makePod('small'), { memory: 10 * Mi });
    stats.memoryAvailable = 50 * Mi;

    manager.start();
    await clock.advance(0);
    expect(killed.map((k) => k.pod.metadata.name)).toEqual(['hog']);
    const [first] = killed;
    const message =
      'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container hog was using 200Mi, request is 0, has larger consumption of memory. ';
    expect(first?.options).toEqual({
      gracePeriodSeconds: 1,
      reason: 'Evicted',
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
            lastTransitionTime: statsTime(clock.now()),
          },
        ],
      },
    });
    expect(events).toEqual([
      {
        object: { kind: 'Node', name: 'node-a', uid: 'node-a' },
        type: 'Warning',
        reason: 'EvictionThresholdMet',
        message: 'Attempting to reclaim memory',
      },
      {
        object: {
          kind: 'Pod',
          apiVersion: 'v1',
          namespace: 'default',
          name: 'hog',
          uid: 'uid-hog',
        },
        type: 'Warning',
        reason: 'Evicted',
        message,
      },
    ]);
    expect(manager.pressure()).toEqual({ memory: true, disk: false, pid: false });
    expect(metrics.value('kubelet_evictions', { eviction_signal: 'memory.available' })).toBe(1);
    expect(
      metrics.observations('kubelet_eviction_stats_age_seconds', {
        eviction_signal: 'memory.available',
      }),
    ).toEqual([0]);

    // Still short on the next pass (10 s later): the next pod goes, only one.
    await clock.advance(10_000);
    expect(killed.map((k) => k.pod.metadata.name)).toEqual(['hog', 'small']);
    await clock.advance(10_000);
    expect(killed.map((k) => k.pod.metadata.name)).toEqual(['hog', 'small', 'guaranteed']);
    void guaranteed;
    void small;
    await manager.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('evicts a pod over its ephemeral-storage limit at once, without node pressure (localStorageEviction); not when the isolation is off', async () => {
    const { killed, events, metrics, manager, addPod } = setup();
    addPod(makePod('fits', { limits: { 'ephemeral-storage': '100Mi' } }), { rootfs: 1 * Mi });
    const over = addPod(makePod('over', { limits: { 'ephemeral-storage': '5Mi' } }), {
      rootfs: 8 * Mi,
      logs: 1 * Mi,
    });
    expect(await manager.synchronize()).toBe(over);
    expect(killed.map((k) => [k.pod.metadata.name, k.options.gracePeriodSeconds])).toEqual([
      ['over', 0],
    ]);
    expect(killed[0]?.options.message).toBe(
      'Container over exceeded its local ephemeral storage limit "5Mi". ',
    );
    expect(killed[0]?.options.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(events.map((e) => [e.object.name, e.reason])).toEqual([['over', 'Evicted']]);
    expect(
      metrics.value('kubelet_evictions', { eviction_signal: 'ephemeralcontainerfs.limit' }),
    ).toBe(1);
    expect(manager.pressure()).toEqual({ memory: false, disk: false, pid: false });

    const off = setup({ localStorageCapacityIsolation: false });
    off.addPod(makePod('over', { limits: { 'ephemeral-storage': '5Mi' } }), { rootfs: 8 * Mi });
    expect(await off.manager.synchronize()).toBeUndefined();
    expect(off.killed).toEqual([]);
  });

  it('does nothing while every threshold is satisfied', async () => {
    const { clock, killed, events, manager, addPod } = setup();
    addPod(makePod('a'), { memory: 200 * Mi });
    manager.start();
    await clock.advance(60_000);
    expect(killed).toEqual([]);
    expect(events).toEqual([]);
    expect(manager.pressure()).toEqual({ memory: false, disk: false, pid: false });
    await manager.stop();
  });

  it('never evicts critical pods (static, mirror, priority ≥ 2e9)', async () => {
    const { clock, stats, killed, manager, addPod } = setup();
    addPod(makePod('static', { annotations: { 'kubernetes.io/config.source': 'file' } }), {
      memory: 900 * Mi,
    });
    addPod(makePod('system', { priority: 2_000_000_000 }), { memory: 800 * Mi });
    addPod(
      makePod('mirror', {
        annotations: { 'kubernetes.io/config.source': 'api', 'kubernetes.io/config.mirror': 'h' },
      }),
      {
        memory: 700 * Mi,
      },
    );
    addPod(makePod('user'), { memory: 5 * Mi });
    stats.memoryAvailable = 10 * Mi;
    expect((await manager.synchronize())?.metadata.name).toBe('user');
    clock.setWallTime(clock.now() + 10_000);
    expect(await manager.synchronize()).toBeUndefined();
    expect(killed.map((k) => k.pod.metadata.name)).toEqual(['user']);
  });

  it('acts only on stats newer than the last pass', async () => {
    const { stats, killed, manager, addPod } = setup();
    addPod(makePod('a'), { memory: 200 * Mi });
    addPod(makePod('b'), { memory: 100 * Mi });
    stats.memoryAvailable = 10 * Mi;
    await manager.synchronize();
    // Same clock second: same stats timestamp, so no second eviction.
    await manager.synchronize();
    expect(killed).toHaveLength(1);
  });
});

describe('EvictionManager: soft thresholds', () => {
  it('waits for the grace period and uses min(pod grace, evictionMaxPodGracePeriod)', async () => {
    const { clock, stats, killed, manager, addPod } = setup({
      evictionSoft: { 'memory.available': '1Gi' },
      evictionSoftGracePeriod: { 'memory.available': '1m30s' },
      evictionMaxPodGracePeriod: 20,
    });
    addPod(makePod('long', { terminationGracePeriodSeconds: 60 }), { memory: 300 * Mi });
    addPod(makePod('short', { terminationGracePeriodSeconds: 5 }), { memory: 200 * Mi });
    stats.memoryAvailable = 512 * Mi;
    manager.start();
    await clock.advance(0);
    expect(manager.pressure().memory).toBe(true);
    await clock.advance(80_000);
    expect(killed).toEqual([]);
    await clock.advance(10_000);
    expect(killed.map((k) => [k.pod.metadata.name, k.options.gracePeriodSeconds])).toEqual([
      ['long', 20],
    ]);
    expect(killed[0]?.options.message).toMatch(
      /^The node was low on resource: memory\. Threshold quantity: 1Gi, available: 512Mi\. /,
    );
    await clock.advance(10_000);
    expect(killed.map((k) => [k.pod.metadata.name, k.options.gracePeriodSeconds])).toEqual([
      ['long', 20],
      ['short', 5],
    ]);
    await manager.stop();
  });

  it('restarts the grace period when the signal recovers in between', async () => {
    const { clock, stats, killed, manager, addPod } = setup({
      evictionSoft: { 'memory.available': '1Gi' },
      evictionSoftGracePeriod: { 'memory.available': '30s' },
    });
    addPod(makePod('a', { terminationGracePeriodSeconds: 45 }), { memory: 300 * Mi });
    stats.memoryAvailable = 512 * Mi;
    manager.start();
    await clock.advance(20_000);
    stats.memoryAvailable = 4 * Gi;
    await clock.advance(10_000);
    stats.memoryAvailable = 512 * Mi;
    // Met again from t=40 s; without the reset it would have gone at t=30 s.
    await clock.advance(30_000);
    expect(killed).toEqual([]);
    await clock.advance(10_000);
    // evictionMaxPodGracePeriod 0 (default): the pod's own grace period.
    expect(killed.map((k) => k.options.gracePeriodSeconds)).toEqual([45]);
    await manager.stop();
  });
});

describe('EvictionManager: pressure transition period', () => {
  it('holds the condition 5 minutes after the threshold was last met', async () => {
    const { clock, stats, manager } = setup();
    stats.memoryAvailable = 50 * Mi;
    manager.start();
    await clock.advance(0);
    expect(manager.pressure().memory).toBe(true);
    stats.memoryAvailable = 4 * Gi;
    await clock.advance(290_000);
    expect(manager.pressure().memory).toBe(true);
    expect(manager.nodeConditions()).toEqual(['MemoryPressure']);
    await clock.advance(20_000);
    expect(manager.pressure().memory).toBe(false);
    await manager.stop();
  });

  it('honours a custom transition period and reports disk and PID pressure', async () => {
    const { clock, stats, manager } = setup({
      evictionPressureTransitionPeriod: '30s',
      // pid.available has no default threshold (as in the kubelet).
      evictionHard: {
        'nodefs.available': '10%',
        'imagefs.inodesFree': '5%',
        'pid.available': '1k',
      },
    });
    stats.nodeFs.available = 5 * Gi;
    stats.pids.cur = 32_000;
    stats.imageFs.inodesFree = 100;
    manager.start();
    await clock.advance(0);
    expect(manager.pressure()).toEqual({ memory: false, disk: true, pid: true });
    stats.nodeFs.available = 50 * Gi;
    stats.imageFs.inodesFree = 900_000;
    stats.pids.cur = 100;
    await clock.advance(40_000);
    expect(manager.pressure()).toEqual({ memory: false, disk: false, pid: false });
    await manager.stop();
  });
});

describe('EvictionManager: node-level reclaim', () => {
  it('runs container GC then image GC for disk pressure and skips eviction when that suffices', async () => {
    const calls: string[] = [];
    const ref: { stats?: FakeStats } = {};
    const { stats, killed, events, manager, addPod } = setup({
      deleteAllUnusedContainers: async () => {
        calls.push('containers');
      },
      deleteUnusedImages: async () => {
        calls.push('images');
        if (ref.stats) ref.stats.imageFs.available = 40 * Gi;
      },
    });
    ref.stats = stats;
    addPod(makePod('writer'), { rootfs: 5 * Gi });
    stats.imageFs.available = 10 * Gi; // < 15 %
    expect(await manager.synchronize()).toBeUndefined();
    expect(calls).toEqual(['containers', 'images']);
    expect(killed).toEqual([]);
    expect(events.map((e) => e.message)).toEqual(['Attempting to reclaim ephemeral-storage']);
    expect(manager.pressure().disk).toBe(true);
  });

  it('evicts the biggest disk user when reclaim is not enough; minimum reclaim counts', async () => {
    const calls: string[] = [];
    const ref: { stats?: FakeStats } = {};
    const { clock, stats, killed, manager, addPod } = setup({
      evictionMinimumReclaim: { 'nodefs.available': '5Gi' },
      deleteAllUnusedContainers: async () => {
        calls.push('containers');
      },
      deleteUnusedImages: async () => {
        calls.push('images');
        // Frees enough to pass the threshold but not the minimum reclaim.
        if (ref.stats) ref.stats.nodeFs.available = 12 * Gi;
      },
    });
    ref.stats = stats;
    addPod(makePod('logger'), { logs: 3 * Gi, rootfs: 0 });
    addPod(makePod('writer', { requests: { 'ephemeral-storage': '1Gi' } }), {
      rootfs: 6 * Gi,
      logs: 0,
    });
    addPod(makePod('modest', { requests: { 'ephemeral-storage': '10Gi' } }), {
      rootfs: 8 * Gi,
      logs: 0,
    });
    stats.nodeFs.available = 8 * Gi; // < 10 % of 100Gi
    const evicted = await manager.synchronize();
    expect(calls).toEqual(['containers', 'images']);
    expect(evicted?.metadata.name).toBe('writer');
    // The message uses the observations of the pass (before reclaim), like the kubelet;
    // 10 % of 100Gi is computed in float32 like the kubelet: 10737418400, not 10Gi.
    expect(killed[0]?.options.message).toBe(
      'The node was low on resource: ephemeral-storage. Threshold quantity: 10737418400, available: 8Gi. Container writer was using 6Gi, request is 1Gi, has larger consumption of ephemeral-storage. ',
    );
    expect(killed[0]?.options.gracePeriodSeconds).toBe(1);
    clock.setWallTime(clock.now() + 10_000);
  });
});

describe('EvictionManager: admission', () => {
  it('rejects BestEffort pods under memory pressure and everything under disk pressure', async () => {
    const { stats, manager } = setup();
    const bestEffort = makePod('be');
    const burstable = makePod('bu', { requests: { memory: '10Mi' } });
    const tolerating = makePod('tol', {
      tolerations: [
        { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
      ],
    });
    const critical = makePod('crit', { priority: 2_000_000_000 });
    expect(manager.admitPod(bestEffort)).toEqual({ admit: true });
    stats.memoryAvailable = 50 * Mi;
    await manager.synchronize();
    expect(manager.admitPod(bestEffort)).toEqual({
      admit: false,
      reason: 'Evicted',
      message: 'The node had condition: [MemoryPressure]. ',
    });
    expect(manager.admitPod(burstable)).toEqual({ admit: true });
    expect(manager.admitPod(tolerating)).toEqual({ admit: true });
    expect(manager.admitPod(critical)).toEqual({ admit: true });
    stats.nodeFs.available = 1 * Gi;
    await manager.synchronize();
    expect(manager.admitPod(burstable)).toEqual({
      admit: false,
      reason: 'Evicted',
      message: 'The node had condition: [MemoryPressure DiskPressure]. ',
    });
  });
});

describe('EvictionManager: configuration', () => {
  it('rejects bad thresholds at construction', () => {
    const clock = new FakeClock();
    const base = {
      stats: new FakeStats(clock),
      clock,
      activePods: () => [],
      killPod: async () => {},
    };
    expect(
      () => new EvictionManager({ ...base, evictionHard: { 'memory.available': '10%%' } }),
    ).toThrow(InvalidConfigError);
    expect(
      () => new EvictionManager({ ...base, evictionPressureTransitionPeriod: 'soon' }),
    ).toThrow(/evictionPressureTransitionPeriod: invalid duration "soon"/);
    expect(() => new EvictionManager({ ...base, evictionMaxPodGracePeriod: -1 })).toThrow(
      /evictionMaxPodGracePeriod/,
    );
  });
});

describe('ranking (cases of the kubelet helpers_test.go)', () => {
  const time = '2026-01-01T00:00:00Z';
  const statsOf = (entries: [k8s.Pod, UsageOptions][]) =>
    cachedStatsFunc(entries.map(([p, u]) => makePodStats(p, u, time)));
  const names = (pods: k8s.Pod[]) => pods.map((p) => p.metadata.name);

  it('TestOrderedByExceedsRequestMemory: pods above their request first', () => {
    const below = makePod('below-requests', { requests: { memory: '200Mi' } });
    const above = makePod('above-requests', { requests: { memory: '200Mi' } });
    const stats = statsOf([
      [below, { memory: 199 * Mi }],
      [above, { memory: 201 * Mi }],
    ]);
    const pods = [below, above];
    rankMemoryPressure(pods, stats);
    expect(names(pods)).toEqual(['above-requests', 'below-requests']);
  });

  it('TestOrderedByPriority + TestOrderedbyMemory: then low priority, then usage above request', () => {
    const low = makePod('low-priority', { priority: 1 });
    const mid = makePod('mid-priority', { priority: 2 });
    const high = makePod('high-priority', { priority: 3 });
    const s1 = statsOf([
      [low, { memory: 10 * Mi }],
      [mid, { memory: 10 * Mi }],
      [high, { memory: 10 * Mi }],
    ]);
    const pods = [high, mid, low];
    rankMemoryPressure(pods, s1);
    expect(names(pods)).toEqual(['low-priority', 'mid-priority', 'high-priority']);

    const p1 = makePod('best-effort-high', {});
    const p2 = makePod('best-effort-low', {});
    const p3 = makePod('burstable-high', { requests: { memory: '100Mi' } });
    const p4 = makePod('burstable-low', { requests: { memory: '100Mi' } });
    const p5 = makePod('guaranteed-high', {
      requests: { memory: '1Gi' },
      limits: { memory: '1Gi' },
    });
    const p6 = makePod('guaranteed-low', {
      requests: { memory: '1Gi' },
      limits: { memory: '1Gi' },
    });
    const s2 = statsOf([
      [p1, { memory: 500 * Mi }],
      [p2, { memory: 300 * Mi }],
      [p3, { memory: 800 * Mi }],
      [p4, { memory: 300 * Mi }],
      [p5, { memory: 800 * Mi }],
      [p6, { memory: 200 * Mi }],
    ]);
    const all = [p1, p2, p3, p4, p5, p6];
    rankMemoryPressure(all, s2);
    // Above request first (by usage above request), then the rest by usage above request.
    expect(names(all)).toEqual([
      'burstable-high',
      'best-effort-high',
      'best-effort-low',
      'burstable-low',
      'guaranteed-high',
      'guaranteed-low',
    ]);
  });

  it('pods without stats are evicted first', () => {
    const withStats = makePod('with');
    const without = makePod('without');
    const pods = [withStats, without];
    rankMemoryPressure(pods, statsOf([[withStats, { memory: 900 * Mi }]]));
    expect(names(pods)).toEqual(['without', 'with']);
  });

  it('PID: priority, then process count', () => {
    const a = makePod('a', { priority: 5 });
    const b = makePod('b');
    const c = makePod('c');
    const pods = [a, b, c];
    rankPidPressure(
      pods,
      statsOf([
        [a, { processes: 1000 }],
        [b, { processes: 10 }],
        [c, { processes: 20 }],
      ]),
    );
    expect(names(pods)).toEqual(['c', 'b', 'a']);
  });

  it('disk: exceeding the ephemeral-storage request, priority, usage above request; inodes', () => {
    const a = makePod('a', { requests: { 'ephemeral-storage': '10Gi' } });
    const b = makePod('b', { priority: 10 });
    const c = makePod('c');
    const stats = statsOf([
      [a, { rootfs: 9 * Gi, logs: 0, inodes: 50 }],
      [b, { rootfs: 2 * Gi, logs: 0, inodes: 500 }],
      [c, { rootfs: 1 * Gi, logs: 0, inodes: 5 }],
    ]);
    const pods = [a, b, c];
    rankDiskPressureFunc(['root', 'logs', 'localVolumeSource'], 'ephemeral-storage')(pods, stats);
    expect(names(pods)).toEqual(['c', 'b', 'a']);
    const byInodes = [c, b, a];
    rankDiskPressureFunc(['root', 'logs', 'localVolumeSource'], 'inodes')(byInodes, stats);
    // Every inode use exceeds the (zero) inode request; like the kubelet, the usage step
    // subtracts the ephemeral-storage request even for inodes, so 'a' (10Gi request) goes last.
    expect(names(byInodes)).toEqual(['c', 'a', 'b']);
  });
});
