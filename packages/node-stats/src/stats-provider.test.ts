import { UnimplementedError, statsTime, type cri } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { FakeRuntime } from '@nodeagent/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryFs } from './__fixtures__/memory-fs.js';
import { tmpfsMagic } from './host-fs.js';
import {
  cgroupFromProcFile,
  createStatsProvider,
  pidFromVerboseInfo,
  type NodeStatsProvider,
} from './stats-provider.js';

const rootDir = '/var/lib/nodeagent';
const podLogsDir = '/var/log/pods';
const imagesDir = '/var/lib/containerd';
const memTotal = 4030000 * 1024;

let clock: FakeClock;
let fs: MemoryFs;
let runtime: FakeRuntime;
/** Cumulative CPU (core-ns) and working set per container ID, served by ListContainerStats. */
let usage: Map<string, { cpu: number; ws: number; layer: number }>;
let sandboxStats: ((ids: string[]) => cri.PodSandboxStats[]) | 'unimplemented';
let provider: NodeStatsProvider;

const u64 = (value: number): cri.UInt64Value => ({ value });

function containerStats(): cri.ContainerStats[] {
  const nowNs = clock.now() * 1e6;
  return runtime.listContainersNow().flatMap((c) => {
    const u = usage.get(c.id);
    if (!u) return [];
    return [
      {
        attributes: { id: c.id, metadata: c.metadata, labels: c.labels, annotations: {} },
        cpu: {
          timestamp: nowNs,
          usageCoreNanoSeconds: u64(u.cpu),
          usageNanoCores: null,
          psi: null,
        },
        memory: {
          timestamp: nowNs,
          workingSetBytes: u64(u.ws),
          availableBytes: u64(0),
          usageBytes: u64(u.ws + 1000),
          rssBytes: u64(u.ws / 2),
          pageFaults: u64(10),
          majorPageFaults: u64(1),
          psi: null,
        },
        writableLayer: {
          timestamp: nowNs,
          fsId: { mountpoint: imagesDir },
          usedBytes: u64(u.layer),
          inodesUsed: u64(3),
        },
        swap: null,
        io: null,
      },
    ];
  });
}

beforeEach(() => {
  clock = new FakeClock();
  fs = new MemoryFs().loadFixture('proc', '/proc').loadFixture('cgroup-v1', '/sys/fs/cgroup');
  fs.mkdir(rootDir);
  fs.mkdir(podLogsDir);
  fs.mkdir(imagesDir);
  fs.mount('/', { blocks: 1000, bfree: 400, bavail: 300, files: 500, ffree: 200 });
  fs.mount(imagesDir, { blocks: 2000, bfree: 1500, bavail: 1400, files: 900, ffree: 800 });
  runtime = new FakeRuntime({ clock, autoEvents: false });
  usage = new Map();
  sandboxStats = 'unimplemented';
  runtime.listContainerStats = () => Promise.resolve({ stats: containerStats() });
  runtime.listPodSandboxStats = () =>
    sandboxStats === 'unimplemented'
      ? Promise.reject(new UnimplementedError('unknown method ListPodSandboxStats'))
      : Promise.resolve({ stats: sandboxStats(runtime.listSandboxesNow().map((s) => s.id)) });
  provider = createStatsProvider({
    runtime,
    images: runtime,
    rootDir,
    podLogsDir,
    clock,
    fs,
    nodeName: 'node-a',
    podSandboxStats: true,
  });
});

describe('NodeStatsProvider: node', () => {
  it('reports node CPU rate from two samples of the root cgroup', async () => {
    const first = await provider.summary({ updateStats: true });
    expect(first.node.cpu?.usageCoreNanoSeconds).toBe(6955807325653);
    expect(first.node.cpu?.usageNanoCores).toBeUndefined();
    // 15 core-seconds in 10 s = 1.5 cores
    fs.write('/sys/fs/cgroup/cpuacct/cpuacct.usage', String(6955807325653 + 15e9));
    await clock.advance(10_000);
    const second = await provider.summary({ updateStats: true });
    expect(second.node.cpu).toEqual({
      time: statsTime(clock.now()),
      usageCoreNanoSeconds: 6955807325653 + 15e9,
      usageNanoCores: 1.5e9,
    });
    // without updateStats the last rate is reported, the cache is not moved
    fs.write('/sys/fs/cgroup/cpuacct/cpuacct.usage', String(6955807325653 + 16e9));
    await clock.advance(10_000);
    expect((await provider.summary()).node.cpu?.usageNanoCores).toBe(1.5e9);
  });

  it('reports node memory, fs, image fs, rlimit and network', async () => {
    const { node } = await provider.summary();
    expect(node.nodeName).toBe('node-a');
    expect(node.startTime).toBe('2026-01-01T00:00:00Z'); // btime 1767225600
    expect(node.memory).toMatchObject({
      usageBytes: 2_000_000_000,
      workingSetBytes: 1_500_000_000,
      availableBytes: memTotal - 1_500_000_000,
      rssBytes: 700_000_000,
      pageFaults: 164923575,
      majorPageFaults: 7746,
    });
    expect(node.fs).toEqual({
      time: statsTime(clock.now()),
      capacityBytes: 1000 * 4096,
      availableBytes: 300 * 4096,
      usedBytes: 600 * 4096,
      inodes: 500,
      inodesFree: 200,
      inodesUsed: 300,
    });
    // FakeRuntime's image fs is /var/lib/fake/images: not on this host, so no capacity
    expect(node.runtime?.imageFs).toMatchObject({ usedBytes: 0, inodesUsed: 0 });
    expect(node.runtime?.imageFs?.capacityBytes).toBeUndefined();
    expect(node.rlimit).toEqual({ time: statsTime(clock.now()), maxpid: 31459, curproc: 197 });
    expect(node.network).toMatchObject({ name: 'eth0', rxBytes: 1967643399, txErrors: 1 });
    expect(node.network?.interfaces?.map((i) => i.name)).toEqual(['eth0', 'eth1']);
    expect(node.systemContainers).toBeUndefined();
  });

  it('adds statfs of the image fs mount point to CRI ImageFsInfo', async () => {
    runtime.imageFsInfo = () =>
      Promise.resolve({
        imageFilesystems: [
          {
            timestamp: clock.now() * 1e6,
            fsId: { mountpoint: imagesDir },
            usedBytes: u64(123_456),
            inodesUsed: u64(42),
          },
        ],
        containerFilesystems: [],
      });
    expect(await provider.imageFsStats()).toEqual({
      time: statsTime(clock.now()),
      capacityBytes: 2000 * 4096,
      availableBytes: 1400 * 4096,
      inodes: 900,
      inodesFree: 800,
      usedBytes: 123_456,
      inodesUsed: 42,
    });
    const s = await provider.summary();
    expect(s.node.runtime?.containerFs).toEqual(s.node.runtime?.imageFs);
  });

  it('reports configured system containers from their cgroups', async () => {
    const p = createStatsProvider({
      runtime,
      images: runtime,
      rootDir,
      clock,
      fs,
      systemCgroups: { runtime: '/system.slice/containerd.service', kubelet: '/missing' },
    });
    const { node } = await p.summary({ updateStats: true });
    expect(node.systemContainers).toHaveLength(1);
    expect(node.systemContainers?.[0]).toMatchObject({
      name: 'runtime',
      cpu: { usageCoreNanoSeconds: 123e9 },
      memory: {
        usageBytes: 300_000_000,
        workingSetBytes: 200_000_000,
        availableBytes: 1073741824 - 200_000_000,
      },
    });
  });
});

describe('NodeStatsProvider: pods', () => {
  function pod(
    name: string,
    containers: string[],
  ): { sandbox: string; uid: string; ids: string[] } {
    const uid = `uid-${name}`;
    const sandbox = runtime.addSandbox({ name, namespace: 'ns1', uid });
    const ids = containers.map((c) => runtime.addContainer(sandbox, { name: c }));
    return { sandbox, uid, ids };
  }

  it('builds pod stats by summing containers when ListPodSandboxStats is Unimplemented', async () => {
    const p = pod('web', ['app', 'sidecar']);
    usage.set(p.ids[0]!, { cpu: 1e9, ws: 10_000, layer: 4096 });
    usage.set(p.ids[1]!, { cpu: 2e9, ws: 20_000, layer: 8192 });
    await provider.summary({ updateStats: true });
    usage.set(p.ids[0]!, { cpu: 3e9, ws: 10_000, layer: 4096 }); // 0.2 cores
    usage.set(p.ids[1]!, { cpu: 7e9, ws: 20_000, layer: 8192 }); // 0.5 cores
    await clock.advance(10_000);
    const { pods } = await provider.summary({ updateStats: true });
    expect(pods).toHaveLength(1);
    const ps = pods[0]!;
    expect(ps.podRef).toEqual({ name: 'web', namespace: 'ns1', uid: p.uid });
    expect(ps.containers.map((c) => [c.name, c.cpu?.usageNanoCores])).toEqual([
      ['app', 2e8],
      ['sidecar', 5e8],
    ]);
    expect(ps.cpu).toMatchObject({ usageNanoCores: 7e8, usageCoreNanoSeconds: 10e9 });
    expect(ps.memory).toMatchObject({
      workingSetBytes: 30_000,
      usageBytes: 32_000,
      rssBytes: 15_000,
      pageFaults: 20,
      majorPageFaults: 2,
    });
    // containerd's availableBytes 0 (no limit) is left out
    expect(ps.memory?.availableBytes).toBeUndefined();
    expect(ps.containers[0]?.rootfs).toMatchObject({
      usedBytes: 4096,
      inodesUsed: 3,
      capacityBytes: 2000 * 4096,
    });
  });

  it("process_stats without sandbox stats: the sum of the containers' cgroup process counts (kubelet addProcessStats)", async () => {
    const p = pod('web', ['app', 'sidecar']);
    usage.set(p.ids[0]!, { cpu: 1e9, ws: 5, layer: 1 });
    usage.set(p.ids[1]!, { cpu: 1e9, ws: 5, layer: 1 });
    // app: pid 101 in a v1 pids cgroup with 2 processes and a child cgroup with 1 more;
    // sidecar: pid 202 in a cgroup with 3 processes.
    const pids: Record<string, number> = { [p.ids[0]!]: 101, [p.ids[1]!]: 202 };
    const statusCalls: string[] = [];
    runtime.containerStatus = (req) => {
      statusCalls.push(req?.containerId ?? '');
      const pid = pids[req?.containerId ?? ''];
      return Promise.resolve({
        status: null,
        info: pid === undefined ? {} : { info: JSON.stringify({ pid, sandboxID: p.sandbox }) },
      });
    };
    const podCg = '/kubepods/besteffort/poduid-web';
    fs.write('/proc/101/cgroup', `12:pids:${podCg}/app\n4:memory:${podCg}/app\n0::/\n`);
    fs.write('/proc/202/cgroup', `12:pids:${podCg}/sidecar\n4:memory:${podCg}/sidecar\n`);
    fs.write(`/sys/fs/cgroup/pids${podCg}/app/cgroup.procs`, '101\n140\n');
    fs.write(`/sys/fs/cgroup/pids${podCg}/app/sub/cgroup.procs`, '150\n');
    fs.write(`/sys/fs/cgroup/pids${podCg}/sidecar/cgroup.procs`, '202\n203\n204\n');
    const plain = createStatsProvider({ runtime, images: runtime, rootDir, clock, fs });
    const ps = (await plain.listPodStats()).find((x) => x.podRef.uid === p.uid);
    expect(ps?.process_stats).toEqual({ process_count: 6 });
    // The cgroup of a running container is looked up once.
    await plain.listPodStats();
    expect(statusCalls.sort()).toEqual([...p.ids].sort());
    // A container whose cgroup cannot be found counts nothing; none known: no process_stats.
    delete pids[p.ids[0]!];
    delete pids[p.ids[1]!];
    const fresh = createStatsProvider({ runtime, images: runtime, rootDir, clock, fs });
    expect((await fresh.listPodStats()).find((x) => x.podRef.uid === p.uid)?.process_stats).toBe(
      undefined,
    );
  });

  it('does not ask ListPodSandboxStats by default (the kubelet feature gate is off)', async () => {
    let calls = 0;
    runtime.listPodSandboxStats = () => {
      calls++;
      return Promise.resolve({ stats: [] });
    };
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 1e9, ws: 5, layer: 1 });
    const plain = createStatsProvider({ runtime, images: runtime, rootDir, clock, fs });
    const ps = (await plain.listPodStats()).find((x) => x.podRef.uid === p.uid);
    expect(calls).toBe(0);
    expect(ps?.memory?.workingSetBytes).toBe(5);
  });

  it('asks ListPodSandboxStats once, then sums containers', async () => {
    let calls = 0;
    runtime.listPodSandboxStats = () => {
      calls++;
      return Promise.reject(new UnimplementedError('unknown method'));
    };
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 1e9, ws: 1, layer: 1 });
    await provider.summary();
    await provider.summary();
    expect(calls).toBe(1);
  });

  it('uses the sandbox stats for pod CPU, memory, network and processes when the runtime has them', async () => {
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 1e9, ws: 10_000, layer: 0 });
    let podCpu = 5e9;
    sandboxStats = (ids) =>
      ids.map((id) => ({
        attributes: { id, metadata: null, labels: {}, annotations: {} },
        linux: {
          cpu: {
            timestamp: clock.now() * 1e6,
            usageCoreNanoSeconds: u64(podCpu),
            usageNanoCores: null,
            psi: null,
          },
          memory: {
            timestamp: clock.now() * 1e6,
            workingSetBytes: u64(99_000),
            availableBytes: u64(1_000),
            usageBytes: u64(120_000),
            rssBytes: null,
            pageFaults: null,
            majorPageFaults: null,
            psi: null,
          },
          network: {
            timestamp: clock.now() * 1e6,
            defaultInterface: {
              name: 'eth0',
              rxBytes: u64(10),
              rxErrors: u64(0),
              txBytes: u64(20),
              txErrors: u64(0),
            },
            interfaces: [],
          },
          process: { timestamp: clock.now() * 1e6, processCount: u64(4) },
          containers: [],
          io: null,
        },
        windows: null,
      }));
    await provider.summary({ updateStats: true });
    podCpu += 10e9;
    await clock.advance(10_000);
    const ps = (await provider.summary({ updateStats: true })).pods[0]!;
    expect(ps.cpu).toMatchObject({ usageCoreNanoSeconds: 15e9, usageNanoCores: 1e9 });
    expect(ps.memory).toEqual({
      time: statsTime(clock.now()),
      workingSetBytes: 99_000,
      availableBytes: 1_000,
      usageBytes: 120_000,
    });
    expect(ps.network).toMatchObject({ name: 'eth0', rxBytes: 10, txBytes: 20 });
    expect(ps.process_stats).toEqual({ process_count: 4 });
  });

  it('leaves out exited containers, terminated duplicate sandboxes and unknown containers', async () => {
    const p = pod('web', ['app', 'done']);
    runtime.exitContainer(p.ids[1]!, 0);
    usage.set(p.ids[0]!, { cpu: 1, ws: 1, layer: 1 });
    usage.set(p.ids[1]!, { cpu: 1, ws: 1, layer: 1 });
    // an older, not-ready sandbox of the same pod with a running container
    const old = runtime.addSandbox({
      name: 'web',
      namespace: 'ns1',
      uid: 'uid-old',
      state: 'SANDBOX_NOTREADY',
    });
    const oldC = runtime.addContainer(old, { name: 'app' });
    usage.set(oldC, { cpu: 1, ws: 1, layer: 1 });
    const { pods } = await provider.summary();
    expect(pods.map((x) => [x.podRef.uid, x.containers.map((c) => c.name)])).toEqual([
      [p.uid, ['app']],
    ]);
  });

  it('counts writable layers, logs and disk-backed emptyDir/configMap volumes as ephemeral storage', async () => {
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 1, ws: 1, layer: 40_960 });
    const podDir = `${rootDir}/pods/${p.uid}`;
    fs.write(`${podLogsDir}/ns1_web_${p.uid}/app/0.log`, 'x'.repeat(5000)); // 2 blocks of 4 KiB
    fs.write(`${podDir}/etc-hosts`, '127.0.0.1 localhost\n'); // 1 block
    fs.write(`${podDir}/volumes/kubernetes.io~empty-dir/cache/data`, 'y'.repeat(10_000)); // 3 blocks
    fs.write(`${podDir}/volumes/kubernetes.io~configmap/cfg/key`, 'v'); // 1 block
    fs.write(`${podDir}/volumes/kubernetes.io~secret/token/token`, 's'); // tmpfs: not ephemeral
    fs.write(`${podDir}/volumes/kubernetes.io~csi/pv/file`, 'z'); // not a local volume
    fs.mount(`${podDir}/volumes/kubernetes.io~secret/token`, {
      type: tmpfsMagic,
      blocks: 10,
      bfree: 9,
      bavail: 9,
      files: 10,
      ffree: 9,
    });

    const ps = (await provider.summary()).pods[0]!;
    const dirBlock = 4096; // every directory takes one 4 KiB block in MemoryFs
    expect(ps.containers[0]?.logs).toMatchObject({ usedBytes: dirBlock + 8192, inodesUsed: 2 });
    expect(ps.volume?.map((v) => [v.name, v.usedBytes, v.inodesUsed])).toEqual([
      ['cache', dirBlock + 12_288, 2],
      ['cfg', dirBlock + 4096, 2],
      ['token', dirBlock + 4096, 2],
    ]);
    expect(ps.volume?.[2]).toMatchObject({ capacityBytes: 10 * 4096 });
    expect(ps['ephemeral-storage']).toEqual({
      time: statsTime(clock.now()),
      capacityBytes: 1000 * 4096,
      availableBytes: 300 * 4096,
      inodes: 500,
      inodesFree: 200,
      usedBytes: 40_960 + (dirBlock + 8192) + 4096 + (dirBlock + 12_288) + (dirBlock + 4096),
      inodesUsed: 3 + 2 + 1 + 2 + 2,
    });
  });

  it('reuses a volume walk for volumeStatsAggPeriod, then walks again', async () => {
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 1, ws: 1, layer: 0 });
    const vol = `${rootDir}/pods/${p.uid}/volumes/kubernetes.io~empty-dir/cache`;
    fs.write(`${vol}/a`, 'a');
    const used = async (): Promise<number | undefined> =>
      (await provider.summary()).pods[0]?.volume?.[0]?.usedBytes;
    const before = await used();
    fs.write(`${vol}/b`, 'b'.repeat(8192));
    expect(await used()).toBe(before);
    await clock.advance(60_000);
    expect(await used()).toBe((before ?? 0) + 8192);
  });

  it('onlyCpuAndMemory leaves out filesystems, network and rlimit', async () => {
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 1, ws: 1, layer: 1 });
    const s = await provider.summary({ onlyCpuAndMemory: true });
    expect(Object.keys(s.node).sort()).toEqual(['cpu', 'memory', 'nodeName', 'startTime']);
    expect(s.pods[0]?.['ephemeral-storage']).toBeUndefined();
    expect(Object.keys(s.pods[0]?.containers[0] ?? {}).sort()).toEqual([
      'cpu',
      'memory',
      'name',
      'startTime',
    ]);
  });

  it('housekeeping keeps usageNanoCores fresh between summaries and stops cleanly', async () => {
    const p = pod('web', ['app']);
    usage.set(p.ids[0]!, { cpu: 0, ws: 1, layer: 0 });
    provider.start();
    await clock.advance(10_000);
    usage.set(p.ids[0]!, { cpu: 2.5e9, ws: 1, layer: 0 });
    await clock.advance(10_000);
    const ps = (await provider.summary()).pods[0]!;
    expect(ps.containers[0]?.cpu?.usageNanoCores).toBe(2.5e8);
    await provider.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('fails like the kubelet when the runtime cannot list container stats', async () => {
    runtime.listContainerStats = () => Promise.reject(new Error('runtime down'));
    await expect(provider.summary()).rejects.toThrow('runtime down');
  });
});

describe('container cgroups for process counts', () => {
  it('reads the PID from a verbose ContainerStatus info', () => {
    expect(pidFromVerboseInfo({ info: '{"pid":4242,"sandboxID":"x"}' })).toBe(4242);
    expect(pidFromVerboseInfo({ info: 'not json' })).toBeUndefined();
    expect(pidFromVerboseInfo({ info: '{"pid":0}' })).toBeUndefined();
    expect(pidFromVerboseInfo(undefined)).toBeUndefined();
  });

  it('takes the unified line on cgroup v2, the pids (else memory) line on v1', () => {
    expect(cgroupFromProcFile('0::/kubepods/pod1/abc\n')).toBe('/kubepods/pod1/abc');
    expect(cgroupFromProcFile('12:pids:/k/p/c\n4:memory:/k/p/m\n0::/\n')).toBe('/k/p/c');
    expect(cgroupFromProcFile('4:memory:/k/p/m\n3:cpu,cpuacct:/k/p/c\n')).toBe('/k/p/m');
    expect(cgroupFromProcFile('')).toBe('');
  });
});
