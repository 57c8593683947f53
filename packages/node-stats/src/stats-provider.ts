import { hostname } from 'node:os';
import {
  ErrorCode,
  isNodeAgentError,
  noopLogger,
  statsTime,
  type Clock,
  type ContainerRuntime,
  type ContainerStats,
  type CpuStats,
  type FsStats,
  type ImageService,
  type InterfaceStats,
  type Logger,
  type MemoryStats,
  type NetworkStats,
  type NodeStats,
  type PodStats,
  type RlimitStats,
  type StatsProvider,
  type Summary,
  type SummaryOptions,
  type SystemContainerName,
  type Timer,
  type VolumeStats,
  type cri,
} from '@nodeagent/core';
import { CgroupReader, workingSetBytes } from './cgroup-reader.js';
import { CpuUsageCache, defaultCpuUsageCachePeriodMs } from './cpu-usage-cache.js';
import { diskUsage, type DiskUsage } from './disk-usage.js';
import { fsCapacity, fsStatsFromStatfs } from './fs-stats.js';
import { isNotFound, nodeHostFs, tmpfsMagic, type HostFilesystem, type StatFs } from './host-fs.js';
import { MachineReader } from './machine-reader.js';

/** The CRI calls node-stats makes. */
export type StatsRuntime = Pick<
  ContainerRuntime,
  'listPodSandbox' | 'listContainers' | 'listContainerStats' | 'listPodSandboxStats'
> &
  /** Verbose ContainerStatus (the container's PID) locates its cgroup for process counts; without it pods have no `process_stats` unless from ListPodSandboxStats. */
  Partial<Pick<ContainerRuntime, 'containerStatus'>>;

/** Options of {@link createStatsProvider}. */
export interface StatsProviderOptions {
  /** The CRI runtime service (ListPodSandbox, ListContainers, ListContainerStats, ListPodSandboxStats). */
  runtime: StatsRuntime;
  /** The CRI image service (ImageFsInfo). */
  images: Pick<ImageService, 'imageFsInfo'>;
  /** The agent's root directory (kubelet `--root-dir`, e.g. /var/lib/kubelet): its fs is the node fs; pod volumes live in `<rootDir>/pods/<uid>/volumes`. */
  rootDir: string;
  /** Pod log directories (KubeletConfiguration `podLogsDir`); default /var/log/pods. */
  podLogsDir?: string;
  /** Time source for sample times, caches and housekeeping. */
  clock: Clock;
  /** Reported as `node.nodeName`; default the host name. */
  nodeName?: string;
  /** Host filesystem access (fixtures in tests); default the real one. */
  fs?: HostFilesystem;
  /** Mount point of procfs; default /proc. */
  procRoot?: string;
  /** Mount point of the cgroup hierarchies; default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /**
   * Cgroups reported as `node.systemContainers` (kubelet `--kubelet-cgroups`,
   * `--runtime-cgroups`, the pods cgroup, `--system-cgroups`), e.g.
   * `{ runtime: '/system.slice/containerd.service', pods: '/kubepods' }`. None by default.
   */
  systemCgroups?: Partial<Record<SystemContainerName, string>>;
  /** Interface inlined in `node.network` (kubelet `network.DefaultInterfaceName`); default eth0. */
  defaultInterfaceName?: string;
  /**
   * How long a volume's disk usage is reused before it is walked again (kubelet
   * `volumeStatsAggPeriod`); default 60 000 ms; 0 walks on every call.
   */
  volumeStatsAggPeriodMs?: number;
  /** Cap of one disk-usage walk (volumes, logs); default 10 000 ms. */
  diskUsageTimeoutMs?: number;
  /**
   * Period of the CPU sampling started by `start()` (cadvisor's housekeeping
   * interval), which keeps `usageNanoCores` fresh for callers that never pass
   * `updateStats`; default 10 000 ms.
   */
  housekeepingIntervalMs?: number;
  /** Cached CPU samples older than this are dropped; default 10 min (kubelet `defaultCachePeriod`). */
  cpuUsageCachePeriodMs?: number;
  /**
   * Use CRI ListPodSandboxStats for pod-level CPU, memory, network and processes
   * (kubelet feature gate `PodAndContainerStatsFromCRI`, off by default); on
   * Unimplemented, pod figures are the sum of the containers from then on. Default
   * false, like the kubelet: pod CPU and memory are the sum of the containers. (On
   * containerd 1.6 the call costs ~270 ms with 20 pods, as it enters every
   * sandbox's network namespace.)
   */
  podSandboxStats?: boolean;
  logger?: Logger;
}

/** Volume plugins whose directories are measured with a disk-usage walk. */
const localVolumePlugins = new Set([
  'kubernetes.io~empty-dir',
  'kubernetes.io~configmap',
  'kubernetes.io~secret',
  'kubernetes.io~projected',
  'kubernetes.io~downward-api',
  'kubernetes.io~git-repo',
]);

/**
 * Volumes that count towards a pod's ephemeral storage when they are on disk
 * (kubelet `isVolumeEphemeral`: emptyDir with the default medium, configMap, gitRepo).
 */
const ephemeralVolumePlugins = new Set([
  'kubernetes.io~empty-dir',
  'kubernetes.io~configmap',
  'kubernetes.io~git-repo',
]);

const nodeCpuKey = 'node';

interface CachedUsage {
  atMs: number;
  usage: Promise<DiskUsage>;
}

interface CallContext {
  nowMs: number;
  update: boolean;
  only: boolean;
  statfs: Map<string, Promise<StatFs | undefined>>;
}

/**
 * The node's stats provider (kubelet `stats.Provider` with the CRI stats provider,
 * `pkg/kubelet/stats/cri_stats_provider.go`): node CPU and memory from the root
 * cgroup, network from /proc/net/dev, node fs from statfs of the root dir, image fs
 * from CRI ImageFsInfo + statfs; pods and containers from CRI ListContainerStats
 * (and ListPodSandboxStats when the runtime has it), log directories, pod volumes.
 *
 * `usageNanoCores` comes from two cumulative samples per container/sandbox/node,
 * cached like the kubelet: `summary({ updateStats: true })` (the eviction
 * manager's call) and the housekeeping timer of {@link start} take new samples;
 * other calls report the last computed rate.
 */
export class NodeStatsProvider implements StatsProvider {
  private readonly fs: HostFilesystem;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly cgroups: CgroupReader;
  private readonly machine: MachineReader;
  private readonly cpuCache: CpuUsageCache;
  private readonly podLogsDir: string;
  private readonly nodeName: string;
  private readonly volumeStatsAggPeriodMs: number;
  private readonly diskUsageTimeoutMs: number;
  private readonly housekeepingIntervalMs: number;
  private readonly defaultInterfaceName: string;
  private readonly volumeUsage = new Map<string, CachedUsage>();
  private readonly systemFirstSeenMs = new Map<string, number>();
  /** Cgroup of each running container, by container ID ('' when it could not be found). */
  private readonly containerCgroups = new Map<string, string>();
  private readonly procRoot: string;
  private readonly createdMs: number;
  private sandboxStatsSupported: boolean;
  private timer: Timer | undefined;
  private housekeeping: Promise<void> | undefined;

  constructor(private readonly options: StatsProviderOptions) {
    this.fs = options.fs ?? nodeHostFs;
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'node-stats' });
    this.cgroups = new CgroupReader(this.fs, options.cgroupRoot ?? '/sys/fs/cgroup');
    this.procRoot = options.procRoot ?? '/proc';
    this.machine = new MachineReader(this.fs, this.cgroups, this.procRoot);
    this.cpuCache = new CpuUsageCache(
      options.cpuUsageCachePeriodMs ?? defaultCpuUsageCachePeriodMs,
    );
    this.podLogsDir = options.podLogsDir ?? '/var/log/pods';
    this.nodeName = options.nodeName ?? hostname();
    this.volumeStatsAggPeriodMs = options.volumeStatsAggPeriodMs ?? 60_000;
    this.diskUsageTimeoutMs = options.diskUsageTimeoutMs ?? 10_000;
    this.housekeepingIntervalMs = options.housekeepingIntervalMs ?? 10_000;
    this.defaultInterfaceName = options.defaultInterfaceName ?? 'eth0';
    this.sandboxStatsSupported = options.podSandboxStats ?? false;
    this.createdMs = this.clock.now();
  }

  /** Starts CPU housekeeping: a sample of every CPU counter each `housekeepingIntervalMs`. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = this.clock.setInterval(() => {
      if (this.housekeeping) return;
      this.housekeeping = this.sampleCpu()
        .catch((err: unknown) => this.logger.warn('CPU housekeeping failed', { err: String(err) }))
        .finally(() => {
          this.housekeeping = undefined;
        });
    }, this.housekeepingIntervalMs);
  }

  /** Stops housekeeping and waits for a sample in flight. */
  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    await this.housekeeping;
  }

  async summary(options: SummaryOptions = {}): Promise<Summary> {
    const ctx = this.context(options);
    const [node, pods] = await Promise.all([this.nodeStats(ctx), this.podStats(ctx)]);
    this.cpuCache.cleanup(ctx.nowMs);
    return { node, pods };
  }

  async listPodStats(options: SummaryOptions = {}): Promise<PodStats[]> {
    const ctx = this.context(options);
    const pods = await this.podStats(ctx);
    this.cpuCache.cleanup(ctx.nowMs);
    return pods;
  }

  async nodeFsStats(): Promise<FsStats> {
    const nowMs = this.clock.now();
    return fsStatsFromStatfs(await this.fs.statfs(this.options.rootDir), nowMs);
  }

  async imageFsStats(): Promise<FsStats> {
    return (await this.runtimeFs(this.context({}))).imageFs;
  }

  async rlimitStats(): Promise<RlimitStats> {
    const nowMs = this.clock.now();
    const r = await this.machine.rlimit();
    return {
      time: statsTime(nowMs),
      ...(r.maxPid !== undefined ? { maxpid: r.maxPid } : {}),
      ...(r.tasks !== undefined ? { curproc: r.tasks } : {}),
    };
  }

  /**
   * Takes one CPU sample of the node, the system containers, every container and
   * (when supported) every sandbox, updating the usageNanoCores cache.
   */
  async sampleCpu(): Promise<void> {
    const ctx = this.context({ updateStats: true, onlyCpuAndMemory: true });
    await Promise.all([
      this.nodeCpu(ctx),
      this.systemContainers(ctx),
      this.options.runtime.listContainerStats({}).then(({ stats }) => {
        for (const s of stats) this.containerCpu(s, ctx);
      }),
      this.listSandboxStats().then((stats) => {
        for (const s of stats ?? []) {
          const cpu = s.linux?.cpu;
          if (cpu && s.attributes) this.cpuStats(`pod/${s.attributes.id}`, cpu, ctx);
        }
      }),
    ]);
    this.cpuCache.cleanup(ctx.nowMs);
  }

  private context(options: SummaryOptions): CallContext {
    return {
      nowMs: this.clock.now(),
      update: options.updateStats ?? false,
      only: options.onlyCpuAndMemory ?? false,
      statfs: new Map(),
    };
  }

  // ---- node ---------------------------------------------------------------

  private async nodeStats(ctx: CallContext): Promise<NodeStats> {
    const [bootMs, cpu, memory, systemContainers] = await Promise.all([
      this.machine.bootTimeMs(),
      this.nodeCpu(ctx),
      this.nodeMemory(ctx),
      this.systemContainers(ctx),
    ]);
    const node: NodeStats = {
      nodeName: this.nodeName,
      startTime: statsTime(bootMs ?? this.createdMs),
      cpu,
      memory,
    };
    if (systemContainers.length > 0) node.systemContainers = systemContainers;
    if (ctx.only) return node;
    const [network, fs, runtime, rlimit] = await Promise.all([
      this.nodeNetwork(ctx),
      this.statfs(this.options.rootDir, ctx).then((s) => {
        if (!s) throw new Error(`root directory ${this.options.rootDir} does not exist`);
        return fsStatsFromStatfs(s, ctx.nowMs);
      }),
      this.runtimeFs(ctx),
      this.rlimitStats(),
    ]);
    if (network) node.network = network;
    node.fs = fs;
    node.runtime = runtime;
    node.rlimit = rlimit;
    return node;
  }

  private async nodeCpu(ctx: CallContext): Promise<CpuStats> {
    const usage = await this.machine.cpuUsageNanoSeconds();
    return this.cumulativeCpu(nodeCpuKey, usage, ctx);
  }

  private cumulativeCpu(key: string, usage: number, ctx: CallContext): CpuStats {
    const sample = { usageCoreNanoSeconds: usage, timestampNs: ctx.nowMs * 1e6 };
    const rate = this.rate(key, sample, ctx);
    return {
      time: statsTime(ctx.nowMs),
      usageCoreNanoSeconds: usage,
      ...(rate !== undefined ? { usageNanoCores: rate } : {}),
    };
  }

  /** The rate for `key`: a new sample when updating (or when none is cached yet), else the cached rate. */
  private rate(
    key: string,
    sample: { usageCoreNanoSeconds: number; timestampNs: number },
    ctx: CallContext,
  ): number | undefined {
    if (ctx.update) return this.cpuCache.update(key, sample);
    const cached = this.cpuCache.get(key);
    if (cached === undefined) this.cpuCache.update(key, sample);
    return cached;
  }

  private async nodeMemory(ctx: CallContext): Promise<MemoryStats> {
    const m = await this.machine.memory();
    return {
      time: statsTime(ctx.nowMs),
      availableBytes: m.availableBytes,
      usageBytes: m.usageBytes,
      workingSetBytes: m.workingSetBytes,
      ...optional('rssBytes', m.rssBytes),
      ...optional('pageFaults', m.pageFaults),
      ...optional('majorPageFaults', m.majorPageFaults),
    };
  }

  private async nodeNetwork(ctx: CallContext): Promise<NetworkStats | undefined> {
    let counters;
    try {
      counters = await this.machine.network();
    } catch (err) {
      this.logger.debug('Network stats unavailable', { err: String(err) });
      return undefined;
    }
    const interfaces: InterfaceStats[] = counters.map((c) => ({
      name: c.name,
      rxBytes: c.rxBytes,
      rxErrors: c.rxErrors,
      txBytes: c.txBytes,
      txErrors: c.txErrors,
    }));
    const def = interfaces.find((i) => i.name === this.defaultInterfaceName);
    return { time: statsTime(ctx.nowMs), ...def, interfaces };
  }

  private async systemContainers(ctx: CallContext): Promise<ContainerStats[]> {
    const entries = Object.entries(this.options.systemCgroups ?? {}).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    );
    const out = await Promise.all(
      entries.map(async ([name, cgroup]) => {
        try {
          const [usage, mem] = await Promise.all([
            this.cgroups.cpuUsageNanoSeconds(cgroup),
            this.cgroups.memory(cgroup),
          ]);
          if (usage === undefined && mem === undefined) return undefined;
          let first = this.systemFirstSeenMs.get(name);
          if (first === undefined) {
            first = ctx.nowMs;
            this.systemFirstSeenMs.set(name, first);
          }
          const stats: ContainerStats = { name, startTime: statsTime(first) };
          if (usage !== undefined) stats.cpu = this.cumulativeCpu(`system/${name}`, usage, ctx);
          if (mem?.usageBytes !== undefined) {
            const ws = workingSetBytes(mem.usageBytes, mem.inactiveFileBytes);
            stats.memory = {
              time: statsTime(ctx.nowMs),
              ...(mem.limitBytes !== undefined
                ? { availableBytes: Math.max(0, mem.limitBytes - ws) }
                : {}),
              usageBytes: mem.usageBytes,
              workingSetBytes: ws,
              ...optional('rssBytes', mem.rssBytes),
              ...optional('pageFaults', mem.pageFaults),
              ...optional('majorPageFaults', mem.majorPageFaults),
            };
          }
          return stats;
        } catch (err) {
          this.logger.warn('System container stats unavailable', {
            name,
            cgroup,
            err: String(err),
          });
          return undefined;
        }
      }),
    );
    return out.filter((s): s is ContainerStats => s !== undefined);
  }

  private async runtimeFs(ctx: CallContext): Promise<{ imageFs: FsStats; containerFs: FsStats }> {
    const info = await this.options.images.imageFsInfo({});
    const image = info.imageFilesystems[0];
    if (!image) throw new Error('imageFs information is unavailable');
    const imageFs = await this.criFsStats(image, ctx);
    const container = info.containerFilesystems[0];
    return { imageFs, containerFs: container ? await this.criFsStats(container, ctx) : imageFs };
  }

  /** CRI FilesystemUsage (used by images/layers) plus statfs of its mount point (kubelet `ImageFsStats`). */
  private async criFsStats(u: cri.FilesystemUsage, ctx: CallContext): Promise<FsStats> {
    const mountpoint = u.fsId?.mountpoint;
    const s = mountpoint ? await this.statfs(mountpoint, ctx) : undefined;
    return {
      time: statsTime(u.timestamp > 0 ? u.timestamp / 1e6 : ctx.nowMs),
      ...(s ? fsCapacity(s) : {}),
      ...optional('usedBytes', u.usedBytes?.value),
      ...optional('inodesUsed', u.inodesUsed?.value),
    };
  }

  // ---- pods -----------------------------------------------------------------

  private async podStats(ctx: CallContext): Promise<PodStats[]> {
    const { runtime } = this.options;
    const [sandboxList, containerList, containerStats, sandboxStats] = await Promise.all([
      runtime.listPodSandbox({}),
      runtime.listContainers({}),
      runtime.listContainerStats({}),
      this.listSandboxStats(),
    ]);
    const sandboxes = new Map(removeTerminatedPods(sandboxList.items).map((s) => [s.id, s]));
    const running = new Map(
      containerList.containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => [c.id, c]),
    );
    const sandboxStatsById = new Map(
      (sandboxStats ?? []).flatMap((s) => (s.attributes ? [[s.attributes.id, s] as const] : [])),
    );

    const pods = new Map<
      string,
      { sandbox: cri.PodSandbox; containers: Promise<ContainerStats>[]; ids: string[] }
    >();
    for (const id of this.containerCgroups.keys())
      if (!running.has(id)) this.containerCgroups.delete(id);
    for (const stats of containerStats.stats) {
      const id = stats.attributes?.id;
      const container = id === undefined ? undefined : running.get(id);
      if (!container) continue;
      const sandbox = sandboxes.get(container.podSandboxId);
      if (!sandbox) continue;
      let pod = pods.get(sandbox.id);
      if (!pod) {
        pod = { sandbox, containers: [], ids: [] };
        pods.set(sandbox.id, pod);
      }
      pod.ids.push(container.id);
      pod.containers.push(this.containerStats(stats, container, podRef(sandbox), ctx));
    }

    return Promise.all(
      [...pods.values()].map(async ({ sandbox, containers, ids }) => {
        const ref = podRef(sandbox);
        const ps: PodStats = {
          podRef: ref,
          startTime: statsTime(sandbox.createdAt / 1e6),
          containers: await Promise.all(containers),
        };
        const sbStats = sandboxStatsById.get(sandbox.id)?.linux;
        this.addPodCpuMemory(ps, sandbox.id, sbStats, ctx);
        if (!ctx.only) {
          if (sbStats?.network) ps.network = networkFromCri(sbStats.network);
          const processCount = sbStats?.process?.processCount?.value;
          if (processCount !== undefined) ps.process_stats = { process_count: processCount };
          else {
            // kubelet addProcessStats: the sum of the containers' cgroup process counts.
            const count = await this.containersProcessCount(ids);
            if (count !== undefined) ps.process_stats = { process_count: count };
          }
          await this.addPodStorage(ps, ctx);
        }
        return ps;
      }),
    );
  }

  /** ListPodSandboxStats, or undefined once the runtime said Unimplemented (or when disabled). */
  /** Sum of the process counts of the containers' cgroups; undefined when none is known. */
  private async containersProcessCount(ids: readonly string[]): Promise<number | undefined> {
    let total: number | undefined;
    for (const id of ids) {
      const cgroup = await this.containerCgroup(id);
      if (!cgroup) continue;
      const n = await this.cgroups.processCount(cgroup).catch(() => undefined);
      if (n !== undefined) total = (total ?? 0) + n;
    }
    return total;
  }

  /**
   * The cgroup of a running container: its PID from a verbose ContainerStatus, then
   * that process's `/proc/<pid>/cgroup` (the unified line, or the v1 `pids`/`memory`
   * one). Cached per container ID while it runs; '' when it cannot be found.
   */
  private async containerCgroup(id: string): Promise<string> {
    const cached = this.containerCgroups.get(id);
    if (cached !== undefined) return cached;
    let cgroup = '';
    const containerStatus = this.options.runtime.containerStatus?.bind(this.options.runtime);
    if (containerStatus) {
      try {
        const { info } = await containerStatus({ containerId: id, verbose: true });
        const pid = pidFromVerboseInfo(info);
        if (pid !== undefined)
          cgroup = cgroupFromProcFile(await this.fs.readText(`${this.procRoot}/${pid}/cgroup`));
      } catch (err) {
        this.logger.debug('No cgroup for container', { containerId: id, err: String(err) });
      }
    }
    this.containerCgroups.set(id, cgroup);
    return cgroup;
  }

  private async listSandboxStats(): Promise<cri.PodSandboxStats[] | undefined> {
    if (!this.sandboxStatsSupported) return undefined;
    try {
      return (await this.options.runtime.listPodSandboxStats({})).stats;
    } catch (err) {
      if (isNodeAgentError(err, ErrorCode.Unimplemented)) {
        this.sandboxStatsSupported = false;
        this.logger.info(
          'Runtime does not implement ListPodSandboxStats; pod stats are sums of container stats',
        );
        return undefined;
      }
      throw err;
    }
  }

  private async containerStats(
    s: cri.ContainerStats,
    container: cri.Container,
    ref: { name: string; namespace: string; uid: string },
    ctx: CallContext,
  ): Promise<ContainerStats> {
    const name = s.attributes?.metadata?.name ?? container.metadata?.name ?? '';
    const out: ContainerStats = {
      name,
      startTime: statsTime(container.createdAt / 1e6),
      cpu: this.containerCpu(s, ctx),
      memory: s.memory
        ? memoryFromCri(s.memory)
        : { time: statsTime(ctx.nowMs), workingSetBytes: 0 },
    };
    if (s.swap) {
      out.swap = {
        time: statsTime(s.swap.timestamp / 1e6),
        ...optional('swapAvailableBytes', s.swap.swapAvailableBytes?.value),
        ...optional('swapUsageBytes', s.swap.swapUsageBytes?.value),
      };
    }
    if (ctx.only) return out;
    const layer = s.writableLayer;
    const [layerFs, logs] = await Promise.all([
      layer?.fsId?.mountpoint ? this.statfs(layer.fsId.mountpoint, ctx) : undefined,
      this.containerLogStats(ref, name, ctx),
    ]);
    if (layer) {
      out.rootfs = {
        time: statsTime(layer.timestamp > 0 ? layer.timestamp / 1e6 : ctx.nowMs),
        ...(layerFs ? fsCapacity(layerFs) : {}),
        ...optional('usedBytes', layer.usedBytes?.value),
        ...optional('inodesUsed', layer.inodesUsed?.value),
      };
    }
    if (logs) out.logs = logs;
    return out;
  }

  private containerCpu(s: cri.ContainerStats, ctx: CallContext): CpuStats {
    if (!s.cpu || !s.attributes) {
      return { time: statsTime(ctx.nowMs), usageCoreNanoSeconds: 0, usageNanoCores: 0 };
    }
    return this.cpuStats(s.attributes.id, s.cpu, ctx);
  }

  /** CPU from a CRI CpuUsage; usageNanoCores from the runtime when it gives one, else from the cache. */
  private cpuStats(key: string, cpu: cri.CpuUsage, ctx: CallContext): CpuStats {
    const total = cpu.usageCoreNanoSeconds?.value;
    let rate = cpu.usageNanoCores?.value;
    if (rate === undefined && total !== undefined) {
      rate = this.rate(key, { usageCoreNanoSeconds: total, timestampNs: cpu.timestamp }, ctx);
    }
    return {
      time: statsTime(cpu.timestamp > 0 ? cpu.timestamp / 1e6 : ctx.nowMs),
      ...optional('usageNanoCores', rate),
      ...optional('usageCoreNanoSeconds', total),
    };
  }

  /** Pod CPU/memory from the sandbox's stats, else the sum of its containers (kubelet `addPodCPUMemoryStats`). */
  private addPodCpuMemory(
    ps: PodStats,
    sandboxId: string,
    sb: cri.LinuxPodSandboxStats | null | undefined,
    ctx: CallContext,
  ): void {
    if (sb?.cpu) ps.cpu = this.cpuStats(`pod/${sandboxId}`, sb.cpu, ctx);
    if (sb?.memory) ps.memory = memoryFromCri(sb.memory);
    if (!ps.cpu) {
      const cpus = ps.containers.flatMap((c) => (c.cpu ? [c.cpu] : []));
      if (cpus.length > 0) {
        ps.cpu = {
          time: latest(cpus.map((c) => c.time)),
          ...sumFields(cpus, ['usageNanoCores', 'usageCoreNanoSeconds']),
        };
      }
    }
    if (!ps.memory) {
      const mems = ps.containers.flatMap((c) => (c.memory ? [c.memory] : []));
      if (mems.length > 0) {
        ps.memory = {
          time: latest(mems.map((m) => m.time)),
          ...sumFields(mems, [
            'availableBytes',
            'usageBytes',
            'workingSetBytes',
            'rssBytes',
            'pageFaults',
            'majorPageFaults',
          ]),
        };
      }
    }
  }

  /** `<podLogsDir>/<namespace>_<name>_<uid>/<container>`: du of the container's log directory. */
  private async containerLogStats(
    ref: { name: string; namespace: string; uid: string },
    container: string,
    ctx: CallContext,
  ): Promise<FsStats | undefined> {
    const dir = `${this.podLogsDir}/${ref.namespace}_${ref.name}_${ref.uid}/${container}`;
    const [usage, s] = await Promise.all([this.walk(dir), this.statfs(this.podLogsDir, ctx)]);
    if (!usage) return undefined;
    return {
      time: statsTime(ctx.nowMs),
      ...(s ? fsCapacity(s) : {}),
      usedBytes: usage.bytes,
      inodesUsed: usage.inodes,
    };
  }

  /**
   * Volume stats of the pod's local volumes and its ephemeral storage: containers'
   * writable layers and logs, disk-backed emptyDir/configMap/gitRepo volumes and the
   * etc-hosts file (kubelet `makePodStorageStats` / `calcEphemeralStorage`).
   */
  private async addPodStorage(ps: PodStats, ctx: CallContext): Promise<void> {
    const podDir = `${this.options.rootDir}/pods/${ps.podRef.uid}`;
    const [volumes, etcHosts, nodeFs] = await Promise.all([
      this.podVolumes(`${podDir}/volumes`, ctx),
      this.fs.lstat(`${podDir}/etc-hosts`).then(
        (s) => ({ bytes: s.blocks * 512, inodes: 1 }),
        () => undefined,
      ),
      this.statfs(this.options.rootDir, ctx),
    ]);
    if (volumes.length > 0) ps.volume = volumes.map((v) => v.stats);
    let usedBytes = etcHosts?.bytes ?? 0;
    let inodesUsed = etcHosts?.inodes ?? 0;
    for (const c of ps.containers) {
      usedBytes += (c.rootfs?.usedBytes ?? 0) + (c.logs?.usedBytes ?? 0);
      inodesUsed += (c.rootfs?.inodesUsed ?? 0) + (c.logs?.inodesUsed ?? 0);
    }
    for (const v of volumes) {
      if (!v.ephemeral) continue;
      usedBytes += v.stats.usedBytes ?? 0;
      inodesUsed += v.stats.inodesUsed ?? 0;
    }
    ps['ephemeral-storage'] = {
      time: statsTime(ctx.nowMs),
      ...(nodeFs ? fsCapacity(nodeFs) : {}),
      usedBytes,
      inodesUsed,
    };
  }

  private async podVolumes(
    volumesDir: string,
    ctx: CallContext,
  ): Promise<Array<{ stats: VolumeStats; ephemeral: boolean }>> {
    const plugins = await this.readdirOptional(volumesDir);
    const found = await Promise.all(
      plugins
        .filter((p) => localVolumePlugins.has(p))
        .map(async (plugin) =>
          (await this.readdirOptional(`${volumesDir}/${plugin}`)).map((name) => ({ plugin, name })),
        ),
    );
    const out = await Promise.all(
      found.flat().map(async ({ plugin, name }) => {
        const path = `${volumesDir}/${plugin}/${name}`;
        const [usage, s] = await Promise.all([
          this.cachedVolumeUsage(path),
          this.statfs(path, ctx),
        ]);
        if (!usage) return undefined;
        const stats: VolumeStats = {
          time: statsTime(ctx.nowMs),
          ...(s ? fsCapacity(s) : {}),
          usedBytes: usage.bytes,
          inodesUsed: usage.inodes,
          name,
        };
        return { stats, ephemeral: ephemeralVolumePlugins.has(plugin) && s?.type !== tmpfsMagic };
      }),
    );
    return out
      .filter((v): v is { stats: VolumeStats; ephemeral: boolean } => v !== undefined)
      .sort((a, b) => (a.stats.name ?? '').localeCompare(b.stats.name ?? ''));
  }

  /** A volume's disk usage, reused for `volumeStatsAggPeriodMs` (one walk in flight per path). */
  private async cachedVolumeUsage(path: string): Promise<DiskUsage | undefined> {
    const mono = this.clock.monotonicNow();
    const cached = this.volumeUsage.get(path);
    if (cached && mono - cached.atMs < this.volumeStatsAggPeriodMs) {
      return cached.usage.catch(() => undefined);
    }
    const usage = diskUsage(path, {
      fs: this.fs,
      clock: this.clock,
      timeoutMs: this.diskUsageTimeoutMs,
    });
    this.volumeUsage.set(path, { atMs: mono, usage });
    // forget volumes of removed pods
    for (const [p, c] of this.volumeUsage) {
      if (mono - c.atMs > Math.max(this.volumeStatsAggPeriodMs, 1) * 10) this.volumeUsage.delete(p);
    }
    return usage.then(
      (u) => u,
      (err: unknown) => {
        this.volumeUsage.delete(path);
        if (!isNotFound(err))
          this.logger.warn('Volume disk usage failed', { path, err: String(err) });
        return undefined;
      },
    );
  }

  private async walk(path: string): Promise<DiskUsage | undefined> {
    try {
      return await diskUsage(path, {
        fs: this.fs,
        clock: this.clock,
        timeoutMs: this.diskUsageTimeoutMs,
      });
    } catch (err) {
      if (!isNotFound(err)) this.logger.warn('Disk usage failed', { path, err: String(err) });
      return undefined;
    }
  }

  /** statfs of `path`, once per call; undefined when the path does not exist. */
  private statfs(path: string, ctx: CallContext): Promise<StatFs | undefined> {
    let p = ctx.statfs.get(path);
    if (!p) {
      p = this.fs.statfs(path).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      ctx.statfs.set(path, p);
    }
    return p;
  }

  private async readdirOptional(path: string): Promise<string[]> {
    try {
      return await this.fs.readdir(path);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }
}

/** Creates a {@link NodeStatsProvider}. Call `start()` to keep CPU rates fresh without `updateStats`. */
export function createStatsProvider(options: StatsProviderOptions): NodeStatsProvider {
  return new NodeStatsProvider(options);
}

// ---- helpers ----------------------------------------------------------------

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

function podRef(s: cri.PodSandbox): { name: string; namespace: string; uid: string } {
  return {
    name: s.metadata?.name ?? s.labels['io.kubernetes.pod.name'] ?? '',
    namespace: s.metadata?.namespace ?? s.labels['io.kubernetes.pod.namespace'] ?? '',
    uid: s.metadata?.uid ?? s.labels['io.kubernetes.pod.uid'] ?? '',
  };
}

/**
 * Memory from a CRI MemoryUsage, every field the runtime set. containerd reports
 * `availableBytes` 0 for a container without a limit; the kubelet omits available
 * bytes when there is no limit, so 0 is left out.
 */
function memoryFromCri(m: cri.MemoryUsage): MemoryStats {
  const available = m.availableBytes?.value;
  return {
    time: statsTime(m.timestamp / 1e6),
    ...optional('availableBytes', available === 0 ? undefined : available),
    ...optional('usageBytes', m.usageBytes?.value),
    ...optional('workingSetBytes', m.workingSetBytes?.value),
    ...optional('rssBytes', m.rssBytes?.value),
    ...optional('pageFaults', m.pageFaults?.value),
    ...optional('majorPageFaults', m.majorPageFaults?.value),
  };
}

function interfaceFromCri(i: cri.NetworkInterfaceUsage): InterfaceStats {
  return {
    name: i.name,
    ...optional('rxBytes', i.rxBytes?.value),
    ...optional('rxErrors', i.rxErrors?.value),
    ...optional('txBytes', i.txBytes?.value),
    ...optional('txErrors', i.txErrors?.value),
  };
}

/** Pod network from the sandbox stats (kubelet `addCRIPodNetworkStats`). */
function networkFromCri(n: cri.NetworkUsage): NetworkStats {
  const def = n.defaultInterface ? interfaceFromCri(n.defaultInterface) : undefined;
  const interfaces = [...(def ? [def] : []), ...n.interfaces.map(interfaceFromCri)];
  return { time: statsTime(n.timestamp / 1e6), ...def, interfaces };
}

/** Sums the listed fields over `items`; a field absent from every item stays absent. */
function sumFields<T extends object, K extends keyof T & string>(
  items: readonly T[],
  keys: readonly K[],
): { [P in K]?: number } {
  const out: { [P in K]?: number } = {};
  for (const key of keys) {
    let sum: number | undefined;
    for (const item of items) {
      const v = item[key];
      if (typeof v === 'number') sum = (sum ?? 0) + v;
    }
    if (sum !== undefined) out[key] = sum;
  }
  return out;
}

function latest(times: readonly string[]): string {
  return times.reduce((a, b) => (b > a ? b : a));
}

/**
 * Drops terminated sandboxes that have a newer or ready instance of the same pod
 * name and namespace (kubelet `removeTerminatedPods`).
 */
export function removeTerminatedPods(pods: readonly cri.PodSandbox[]): cri.PodSandbox[] {
  const byRef = new Map<string, cri.PodSandbox[]>();
  for (const p of [...pods].sort((a, b) => a.createdAt - b.createdAt)) {
    const key = `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    const list = byRef.get(key);
    if (list) list.push(p);
    else byRef.set(key, [p]);
  }
  const out: cri.PodSandbox[] = [];
  for (const refs of byRef.values()) {
    if (refs.length === 1) {
      out.push(refs[0]!);
      continue;
    }
    const ready = refs.filter((r) => r.state === 'SANDBOX_READY');
    out.push(...(ready.length > 0 ? ready : [refs[refs.length - 1]!]));
  }
  return out;
}

/** The container PID in a verbose CRI ContainerStatus `info` (containerd: `info.pid`). */
export function pidFromVerboseInfo(info: Record<string, string> | undefined): number | undefined {
  for (const value of Object.values(info ?? {})) {
    try {
      const parsed = JSON.parse(value) as unknown;
      if (parsed !== null && typeof parsed === 'object' && 'pid' in parsed) {
        const { pid } = parsed;
        if (typeof pid === 'number' && pid > 0) return pid;
      }
    } catch {
      // not JSON: look further
    }
  }
  return undefined;
}

/**
 * The cgroup path in a `/proc/<pid>/cgroup` file: the cgroup v2 line (`0::/path`), else
 * the v1 `pids` line, else the `memory` line; '' when there is none.
 */
export function cgroupFromProcFile(text: string): string {
  const lines = text.split('\n').map((l) => l.split(':'));
  const find = (pred: (controllers: string[]) => boolean): string | undefined =>
    lines
      .find((parts) => parts.length >= 3 && pred((parts[1] ?? '').split(',')))
      ?.slice(2)
      .join(':');
  const unified = lines.find((parts) => parts[0] === '0' && parts[1] === '' && parts.length >= 3);
  const v2 = unified?.slice(2).join(':');
  if (v2 !== undefined && lines.filter((p) => p.length >= 3).length === 1) return v2;
  return find((c) => c.includes('pids')) ?? find((c) => c.includes('memory')) ?? v2 ?? '';
}
