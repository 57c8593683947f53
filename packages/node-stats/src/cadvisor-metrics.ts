/**
 * The kubelet's `/metrics/cadvisor`: cAdvisor's container and machine metrics in the
 * Prometheus text format, read from cgroups and /proc the way cAdvisor does, with the
 * label set the kubelet's `containerPrometheusLabelsFunc` gives them (`container`,
 * `id`, `image`, `name`, `namespace`, `pod`).
 */
import {
  noopLogger,
  type Clock,
  type ContainerRuntime,
  type Logger,
  type cri,
} from '@nodeagent/core';
import { CgroupReader, workingSetBytes, type CgroupVersion } from './cgroup-reader.js';
import { isNotFound, nodeHostFs, type HostFilesystem } from './host-fs.js';
import { ignoredInterfacePrefixes } from './machine-reader.js';
import {
  parseFlatKeyed,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseSingleNumber,
  userHz,
  type NetDevCounters,
} from './proc.js';
import { cgroupFromProcFile, pidFromVerboseInfo } from './stats-provider.js';

/** Content type of the Prometheus text exposition format 0.0.4 (what the kubelet serves). */
export const cadvisorMetricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

/** The CRI calls `/metrics/cadvisor` makes: the lists, and verbose statuses for PIDs (once per ID). */
export type CadvisorRuntime = Pick<
  ContainerRuntime,
  'listPodSandbox' | 'listContainers' | 'podSandboxStatus' | 'containerStatus'
>;

/** Options of {@link createCadvisorMetrics}. */
export interface CadvisorMetricsOptions {
  /** The CRI runtime service: ListPodSandbox, ListContainers, verbose PodSandboxStatus/ContainerStatus. */
  runtime: CadvisorRuntime;
  /** Sample timestamps and `container_last_seen`. */
  clock: Clock;
  /** Host filesystem access (fixtures in tests); default the real one. */
  fs?: HostFilesystem;
  /** Mount point of procfs; default /proc. */
  procRoot?: string;
  /** Mount point of the cgroup hierarchies; default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Where the machine ID is read (`machine_id` label); default /etc/machine-id. */
  machineIdPath?: string;
  /** Where the SMBIOS system UUID is read (`system_uuid` label); default /sys/class/dmi/id/product_uuid. */
  systemUuidPath?: string;
  /**
   * Raw cgroups reported besides the root, pods and containers (cAdvisor's
   * `raw_cgroup_prefix_whitelist`, which the kubelet sets to its cgroup roots): each
   * listed cgroup, and every ancestor of a pod cgroup below one of them (the QoS
   * cgroups), e.g. `['/kubepods']`. None by default.
   */
  rawCgroupPrefixes?: readonly string[];
  logger?: Logger;
}

/** One sample: a value, the labels beyond the base ones, and whether it carries the scrape timestamp. */
interface Sample {
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  samples: Sample[];
}

/** Interface counters as /proc/<pid>/net/dev gives them. */
/** One interface's /proc/net/dev counters (proc's `NetDevCounters`). */
export type InterfaceCounters = NetDevCounters;

/** What cAdvisor reads of one cgroup; every field optional, since controllers differ. */
interface CgroupSample {
  cpuUsageNs?: number;
  cpuUserNs?: number;
  cpuSystemNs?: number;
  cpuShares?: number;
  cpuPeriodUs?: number;
  cpuQuotaUs?: number;
  memoryUsage?: number;
  memoryWorkingSet?: number;
  memoryRss?: number;
  memoryCache?: number;
  memorySwap?: number;
  memoryMappedFile?: number;
  memoryMaxUsage?: number;
  memoryFailcnt?: number;
  /** [container pgfault, container pgmajfault, hierarchy pgfault, hierarchy pgmajfault] */
  memoryFaults?: [number, number, number, number];
  /** Memory limit in bytes; 0 when unlimited (cAdvisor's `specMemoryValue`). */
  memoryLimit?: number;
  threads?: number;
  threadsMax?: number;
  processes?: number;
  oomEvents?: number;
}

/** A series source: one cgroup and the base labels of everything reported for it. */
interface Entity {
  cgroup: string;
  labels: BaseLabels;
  startSeconds?: number;
  /** Where this entity's network counters come from (a sandbox's `/proc/<pid>/net/dev`, the host's). */
  netDevPath?: string;
}

interface BaseLabels {
  container: string;
  id: string;
  image: string;
  name: string;
  namespace: string;
  pod: string;
}

interface CachedTask {
  cgroup: string;
  pid: number | undefined;
  image: string | undefined;
}

const podNameLabel = 'io.kubernetes.pod.name';
const podNamespaceLabel = 'io.kubernetes.pod.namespace';
const containerNameLabel = 'io.kubernetes.container.name';

/** cgroup v1 values at or above this are "no limit" (PAGE_COUNTER_MAX × page size). */
const unlimited = 2 ** 62;

/**
 * The kubelet's `/metrics/cadvisor` (`pkg/kubelet/server/server.go` `cadvisorMetricsPath`:
 * cAdvisor's `PrometheusCollector` and `PrometheusMachineCollector` with the kubelet's
 * included metric set and `containerPrometheusLabelsFunc`), as a `MetricsSource`
 * (`metrics()` + `contentType`) the node API serves.
 *
 * Series, as cAdvisor with containerd reports them:
 * - the root cgroup `id="/"` (CPU, memory, the host's network);
 * - each ready pod's cgroup (`container=""`, `name=""`, `image=""`, with `pod`/`namespace`);
 * - each ready sandbox's pause container (`container=""`, `name`=sandbox ID,
 *   `image`=pause image): the pod's network counters are reported on it only
 *   (cAdvisor's containerd handler reports network for `io.cri-containerd.kind=sandbox`);
 * - each running container (app or init), `container`=its name, `name`=its ID.
 *
 * `id` is the cgroup path as the kernel shows it in `/proc/<pid>/cgroup` (the v2
 * line, else the v1 `pids`/`memory` line) for the task's PID from verbose CRI status:
 * exactly cAdvisor's container name on cgroupfs and systemd drivers alike; the pod
 * cgroup is its parent. Per-container metrics carry the scrape time as timestamp
 * (cAdvisor stamps them with the stats time); spec metrics
 * (`container_start_time_seconds`, `container_spec_*`) carry none, as in cAdvisor.
 */
export class CadvisorMetrics {
  /** The Prometheus text content type. */
  readonly contentType = cadvisorMetricsContentType;
  private readonly fs: HostFilesystem;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly cgroups: CgroupReader;
  private readonly procRoot: string;
  private readonly cgroupRoot: string;
  /** Cgroup, PID and image of each task (sandbox or container) by ID, while it runs. */
  private readonly tasks = new Map<string, Promise<CachedTask>>();
  /** v1: the hierarchy directory that answers for each controller, by controller. */
  private readonly v1Dirs = new Map<string, string>();

  constructor(private readonly options: CadvisorMetricsOptions) {
    this.fs = options.fs ?? nodeHostFs;
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'cadvisor-metrics' });
    this.cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
    this.procRoot = options.procRoot ?? '/proc';
    this.cgroups = new CgroupReader(this.fs, this.cgroupRoot);
  }

  /** Renders every family, sorted by name; each family's series sorted by labels. */
  async metrics(): Promise<string> {
    const nowMs = this.clock.now();
    const families = new Map<string, Family>();
    const [machineOk, entities] = await Promise.all([
      this.machineMetrics(families, nowMs),
      this.entities().then(
        (e) => ({ ok: true, list: e }),
        (err: unknown) => {
          this.logger.warn('Listing pods for cadvisor metrics failed', { err: String(err) });
          return { ok: false, list: [] as Entity[] };
        },
      ),
    ]);
    const root = await this.rootEntity();
    let containerOk = entities.ok;
    const all = [root, ...entities.list];
    const results = await Promise.all(
      all.map(async (e) => {
        try {
          return { e, s: await this.sample(e.cgroup), net: await this.network(e.netDevPath) };
        } catch (err) {
          if (!isNotFound(err)) {
            containerOk = false;
            this.logger.debug('Cgroup unreadable', { cgroup: e.cgroup, err: String(err) });
          }
          return undefined;
        }
      }),
    );
    for (const r of results) {
      if (r) this.addContainer(families, r.e, r.s, r.net, nowMs);
    }
    add(families, 'container_scrape_error', gaugeHelp.scrapeError, 'gauge', {
      labels: {},
      value: containerOk ? 0 : 1,
    });
    add(families, 'machine_scrape_error', gaugeHelp.machineScrapeError, 'gauge', {
      labels: {},
      value: machineOk ? 0 : 1,
    });
    return render(families);
  }

  // ---- machine ----------------------------------------------------------------

  /** `machine_*` gauges with `boot_id`, `machine_id`, `system_uuid`; false when /proc could not be read. */
  private async machineMetrics(families: Map<string, Family>, nowMs: number): Promise<boolean> {
    try {
      const [cpuinfo, meminfoText, bootId, machineId, systemUuid] = await Promise.all([
        this.fs.readText(`${this.procRoot}/cpuinfo`),
        this.fs.readText(`${this.procRoot}/meminfo`),
        this.readAny(`${this.procRoot}/sys/kernel/random/boot_id`),
        this.readAny(this.options.machineIdPath ?? '/etc/machine-id').then(
          async (id) => id ?? (await this.readAny('/var/lib/dbus/machine-id')),
        ),
        this.readAny(this.options.systemUuidPath ?? '/sys/class/dmi/id/product_uuid'),
      ]);
      const labels = {
        boot_id: (bootId ?? '').trim(),
        machine_id: (machineId ?? '').trim(),
        system_uuid: (systemUuid ?? '').trim(),
      };
      const topo = cpuTopology(cpuinfo);
      const meminfo = parseMeminfo(meminfoText);
      const put = (name: keyof typeof machineHelp, value: number | undefined): void => {
        if (value !== undefined)
          add(families, name, machineHelp[name], 'gauge', { labels, value, timestampMs: nowMs });
      };
      put('machine_cpu_cores', topo.logical);
      put('machine_cpu_physical_cores', topo.physical);
      put('machine_cpu_sockets', topo.sockets);
      put('machine_memory_bytes', meminfo.get('MemTotal'));
      put('machine_swap_bytes', meminfo.get('SwapTotal'));
      return true;
    } catch (err) {
      this.logger.warn('Machine metrics unavailable', { err: String(err) });
      return false;
    }
  }

  // ---- which cgroups ------------------------------------------------------------

  private async rootEntity(): Promise<Entity> {
    const stat = await this.readOptional(`${this.procRoot}/stat`);
    const btime = stat === undefined ? undefined : parseProcStat(stat).bootTimeSeconds;
    return {
      cgroup: '/',
      labels: rawLabels('/'),
      ...(btime !== undefined ? { startSeconds: btime } : {}),
      netDevPath: `${this.procRoot}/net/dev`,
    };
  }

  /** Ready sandboxes (pause container + pod cgroup), running containers and raw ancestors. */
  private async entities(): Promise<Entity[]> {
    const { runtime } = this.options;
    const [sandboxList, containerList] = await Promise.all([
      runtime.listPodSandbox({ filter: { state: { state: 'SANDBOX_READY' } } }),
      runtime.listContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } }),
    ]);
    const sandboxes = sandboxList.items.filter((s) => s.state === 'SANDBOX_READY');
    const containers = containerList.containers.filter((c) => c.state === 'CONTAINER_RUNNING');
    const live = new Set([...sandboxes.map((s) => s.id), ...containers.map((c) => c.id)]);
    for (const id of this.tasks.keys()) if (!live.has(id)) this.tasks.delete(id);

    const byId = new Map(sandboxes.map((s) => [s.id, s]));
    const out: Entity[] = [];
    const podCgroups = new Map<string, cri.PodSandbox>();
    const sandboxTasks = await Promise.all(sandboxes.map((s) => this.task(s.id, 'sandbox')));
    sandboxes.forEach((s, i) => {
      const t = sandboxTasks[i];
      if (!t?.cgroup) return;
      const pod = podLabels(s.labels, s.metadata);
      out.push({
        cgroup: t.cgroup,
        labels: { ...pod, container: '', id: t.cgroup, image: t.image ?? '', name: s.id },
        startSeconds: s.createdAt / 1e9,
        ...(t.pid !== undefined ? { netDevPath: `${this.procRoot}/${t.pid}/net/dev` } : {}),
      });
      const parent = parentCgroup(t.cgroup);
      if (parent) podCgroups.set(parent, s);
    });
    const containerTasks = await Promise.all(containers.map((c) => this.task(c.id, 'container')));
    containers.forEach((c, i) => {
      const t = containerTasks[i];
      if (!t?.cgroup) return;
      const sandbox = byId.get(c.podSandboxId);
      const pod = podLabels(c.labels, sandbox?.metadata);
      out.push({
        cgroup: t.cgroup,
        labels: {
          ...pod,
          container: c.labels[containerNameLabel] ?? c.metadata?.name ?? '',
          id: t.cgroup,
          image: c.image?.image ?? '',
          name: c.id,
        },
        startSeconds: c.createdAt / 1e9,
      });
      const parent = parentCgroup(t.cgroup);
      if (parent && sandbox && !podCgroups.has(parent)) podCgroups.set(parent, sandbox);
    });
    const raw = new Set(this.options.rawCgroupPrefixes ?? []);
    for (const [cgroup, s] of podCgroups) {
      out.push({
        cgroup,
        labels: { ...rawLabels(cgroup), ...podLabels(s.labels, s.metadata) },
        startSeconds: s.createdAt / 1e9,
      });
      for (const a of ancestors(cgroup)) {
        if (underAny(a, this.options.rawCgroupPrefixes ?? [])) raw.add(a);
      }
    }
    for (const cgroup of raw) {
      if (!podCgroups.has(cgroup) && cgroup !== '/')
        out.push({ cgroup, labels: rawLabels(cgroup) });
    }
    return out;
  }

  /** Cgroup, PID and image of a sandbox or container, from its verbose status; cached while it runs. */
  private task(id: string, kind: 'sandbox' | 'container'): Promise<CachedTask> {
    let t = this.tasks.get(id);
    if (!t) {
      t = this.lookupTask(id, kind);
      this.tasks.set(id, t);
      // a failed lookup is retried on the next scrape
      void t.then((v) => {
        if (!v.cgroup) this.tasks.delete(id);
      });
    }
    return t;
  }

  private async lookupTask(id: string, kind: 'sandbox' | 'container'): Promise<CachedTask> {
    try {
      const info =
        kind === 'sandbox'
          ? (await this.options.runtime.podSandboxStatus({ podSandboxId: id, verbose: true })).info
          : (await this.options.runtime.containerStatus({ containerId: id, verbose: true })).info;
      const pid = pidFromVerboseInfo(info);
      if (pid === undefined) return { cgroup: '', pid: undefined, image: undefined };
      const cgroup = cgroupFromProcFile(await this.fs.readText(`${this.procRoot}/${pid}/cgroup`));
      return { cgroup, pid, image: imageFromVerboseInfo(info) };
    } catch (err) {
      this.logger.debug('No cgroup for task', { id, kind, err: String(err) });
      return { cgroup: '', pid: undefined, image: undefined };
    }
  }

  // ---- reading a cgroup -----------------------------------------------------------

  /** Everything cAdvisor reads of `cgroup`; rejects with ENOENT when the cgroup is gone. */
  private async sample(cgroup: string): Promise<CgroupSample> {
    const version = await this.cgroups.version();
    const [cpu, memory, pids, processes] = await Promise.all([
      version === 'v2' ? this.cpuV2(cgroup) : this.cpuV1(cgroup),
      version === 'v2' ? this.memoryV2(cgroup) : this.memoryV1(cgroup),
      this.pids(cgroup, version),
      this.processCount(cgroup, version),
    ]);
    if (cpu === undefined && memory === undefined) {
      throw Object.assign(new Error(`cgroup ${cgroup} not found`), { code: 'ENOENT' });
    }
    return {
      ...cpu,
      ...memory,
      ...pids,
      ...(processes !== undefined ? { processes } : {}),
    };
  }

  private async cpuV1(cgroup: string): Promise<CgroupSample | undefined> {
    const dir = await this.v1Dir(['cpu,cpuacct', 'cpuacct,cpu', 'cpuacct'], 'cpuacct.usage');
    if (dir === undefined) return undefined;
    const usage = await this.readNumber(dir, cgroup, 'cpuacct.usage');
    if (usage === undefined) return undefined;
    const cpuDir = (await this.v1Dir(['cpu,cpuacct', 'cpuacct,cpu', 'cpu'], 'cpu.shares')) ?? dir;
    const [stat, shares, period, quota] = await Promise.all([
      this.readOptional(this.path(dir, cgroup, 'cpuacct.stat')),
      this.readNumber(cpuDir, cgroup, 'cpu.shares'),
      this.readNumber(cpuDir, cgroup, 'cpu.cfs_period_us'),
      this.readOptional(this.path(cpuDir, cgroup, 'cpu.cfs_quota_us')),
    ]);
    const ticks = stat === undefined ? undefined : parseFlatKeyed(stat);
    const tickNs = 1e9 / userHz;
    const user = ticks?.get('user');
    const system = ticks?.get('system');
    const q = quota === undefined ? undefined : Number(quota.trim());
    return {
      cpuUsageNs: usage,
      ...opt('cpuUserNs', user === undefined ? undefined : user * tickNs),
      ...opt('cpuSystemNs', system === undefined ? undefined : system * tickNs),
      ...opt('cpuShares', shares),
      ...opt('cpuPeriodUs', period),
      // -1 is "no quota": cAdvisor leaves Quota 0 and emits no container_spec_cpu_quota
      ...opt('cpuQuotaUs', q !== undefined && Number.isFinite(q) && q > 0 ? q : undefined),
    };
  }

  private async cpuV2(cgroup: string): Promise<CgroupSample | undefined> {
    const dir = this.cgroupRoot;
    const stat = await this.readOptional(this.path(dir, cgroup, 'cpu.stat'));
    if (stat === undefined) return undefined;
    const s = parseFlatKeyed(stat);
    const [weight, max] = await Promise.all([
      this.readNumber(dir, cgroup, 'cpu.weight'),
      this.readOptional(this.path(dir, cgroup, 'cpu.max')),
    ]);
    const [quota, period] = (max ?? '').trim().split(/\s+/);
    const usec = (k: string): number | undefined => {
      const v = s.get(k);
      return v === undefined ? undefined : v * 1000;
    };
    return {
      ...opt('cpuUsageNs', usec('usage_usec')),
      ...opt('cpuUserNs', usec('user_usec')),
      ...opt('cpuSystemNs', usec('system_usec')),
      // cAdvisor converts cpu.weight back to shares (the inverse of runc's conversion)
      ...opt(
        'cpuShares',
        weight === undefined ? undefined : 2 + Math.floor(((weight - 1) * 262142) / 9999),
      ),
      ...opt('cpuPeriodUs', period === undefined || period === '' ? undefined : Number(period)),
      ...opt(
        'cpuQuotaUs',
        quota === undefined || quota === 'max' || quota === '' ? undefined : Number(quota),
      ),
    };
  }

  private async memoryV1(cgroup: string): Promise<CgroupSample | undefined> {
    const dir = `${this.cgroupRoot}/memory`;
    const statText = await this.readOptional(this.path(dir, cgroup, 'memory.stat'));
    if (statText === undefined) return undefined;
    const stat = parseFlatKeyed(statText);
    const [usage, limit, maxUsage, failcnt, oomControl] = await Promise.all([
      this.readNumber(dir, cgroup, 'memory.usage_in_bytes'),
      this.readNumber(dir, cgroup, 'memory.limit_in_bytes'),
      this.readNumber(dir, cgroup, 'memory.max_usage_in_bytes'),
      this.readNumber(dir, cgroup, 'memory.failcnt'),
      this.readOptional(this.path(dir, cgroup, 'memory.oom_control')),
    ]);
    const oom = oomControl === undefined ? undefined : parseFlatKeyed(oomControl).get('oom_kill');
    return {
      ...memoryCommon(usage, stat.get('total_inactive_file'), limit),
      ...opt('memoryRss', stat.get('total_rss')),
      ...opt('memoryCache', stat.get('total_cache')),
      memorySwap: stat.get('total_swap') ?? 0,
      ...opt('memoryMappedFile', stat.get('total_mapped_file')),
      ...opt('memoryMaxUsage', maxUsage),
      ...opt('memoryFailcnt', failcnt),
      ...faults(stat, 'pgfault', 'pgmajfault', 'total_pgfault', 'total_pgmajfault'),
      ...opt('oomEvents', oom),
    };
  }

  private async memoryV2(cgroup: string): Promise<CgroupSample | undefined> {
    const dir = this.cgroupRoot;
    const statText = await this.readOptional(this.path(dir, cgroup, 'memory.stat'));
    if (statText === undefined) return undefined;
    const stat = parseFlatKeyed(statText);
    const [usage, limit, peak, swap, eventsText] = await Promise.all([
      this.readNumber(dir, cgroup, 'memory.current'),
      this.readOptional(this.path(dir, cgroup, 'memory.max')),
      this.readNumber(dir, cgroup, 'memory.peak'),
      this.readNumber(dir, cgroup, 'memory.swap.current'),
      this.readOptional(this.path(dir, cgroup, 'memory.events')),
    ]);
    const events = eventsText === undefined ? undefined : parseFlatKeyed(eventsText);
    let memoryUsage = usage;
    let inactive = stat.get('inactive_file');
    if (memoryUsage === undefined && (cgroup === '/' || cgroup === '')) {
      // the v2 root has no memory.current: MemTotal − MemFree, as runc and cAdvisor do
      const meminfo = parseMeminfo(await this.fs.readText(`${this.procRoot}/meminfo`));
      memoryUsage = (meminfo.get('MemTotal') ?? 0) - (meminfo.get('MemFree') ?? 0);
      inactive ??= meminfo.get('Inactive(file)');
    }
    const lim = limit === undefined ? undefined : parseSingleNumber(limit);
    return {
      ...memoryCommon(memoryUsage, inactive, limit === undefined ? undefined : (lim ?? unlimited)),
      ...opt('memoryRss', stat.get('anon')),
      ...opt('memoryCache', stat.get('file')),
      memorySwap: swap ?? 0,
      ...opt('memoryMappedFile', stat.get('file_mapped')),
      ...opt('memoryMaxUsage', peak),
      ...opt('memoryFailcnt', events?.get('max')),
      ...faults(stat, 'pgfault', 'pgmajfault', 'pgfault', 'pgmajfault'),
      ...opt('oomEvents', events?.get('oom_kill')),
    };
  }

  /** pids.current (threads) and pids.max (0 when "max", as cAdvisor: zero means unlimited). */
  private async pids(cgroup: string, version: CgroupVersion): Promise<CgroupSample> {
    const dir = version === 'v2' ? this.cgroupRoot : `${this.cgroupRoot}/pids`;
    const [current, max] = await Promise.all([
      this.readNumber(dir, cgroup, 'pids.current'),
      this.readOptional(this.path(dir, cgroup, 'pids.max')),
    ]);
    const m = max === undefined ? undefined : (parseSingleNumber(max) ?? 0);
    return { ...opt('threads', current), ...opt('threadsMax', m) };
  }

  /**
   * Processes in the cgroup itself (the lines of its `cgroup.procs`, not its
   * descendants'), as cAdvisor's `processStatsFromProcs`; undefined when unreadable.
   */
  private async processCount(cgroup: string, version: CgroupVersion): Promise<number | undefined> {
    const dirs =
      version === 'v2'
        ? [this.cgroupRoot]
        : ['pids', 'cpu,cpuacct', 'cpuacct', 'memory'].map((h) => `${this.cgroupRoot}/${h}`);
    for (const dir of dirs) {
      const text = await this.readOptional(this.path(dir, cgroup, 'cgroup.procs')).catch(
        () => undefined,
      );
      if (text !== undefined) return text.split('\n').filter((l) => l.trim() !== '').length;
    }
    return undefined;
  }

  private async network(path: string | undefined): Promise<InterfaceCounters[] | undefined> {
    if (path === undefined) return undefined;
    const text = await this.readOptional(path).catch(() => undefined);
    if (text === undefined) return undefined;
    return parseNetDev(text).filter(
      (i) => !ignoredInterfacePrefixes.some((p) => i.name.startsWith(p)),
    );
  }

  /** The first v1 hierarchy (of `candidates`) whose root has `probe`; cached. */
  private async v1Dir(candidates: readonly string[], probe: string): Promise<string | undefined> {
    const key = `${candidates.join('|')}:${probe}`;
    const cached = this.v1Dirs.get(key);
    if (cached !== undefined) return cached;
    for (const c of candidates) {
      const dir = `${this.cgroupRoot}/${c}`;
      if ((await this.readOptional(`${dir}/${probe}`)) !== undefined) {
        this.v1Dirs.set(key, dir);
        return dir;
      }
    }
    return undefined;
  }

  private path(dir: string, cgroup: string, file: string): string {
    const rel = cgroup === '/' || cgroup === '' ? '' : `/${cgroup.replace(/^\/+|\/+$/g, '')}`;
    return `${dir}${rel}/${file}`;
  }

  private async readNumber(dir: string, cgroup: string, file: string): Promise<number | undefined> {
    const text = await this.readOptional(this.path(dir, cgroup, file));
    return text === undefined ? undefined : parseSingleNumber(text);
  }

  private async readOptional(path: string): Promise<string | undefined> {
    try {
      return await this.fs.readText(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A file's text, or undefined on any error (product_uuid is root-only). */
  private async readAny(path: string): Promise<string | undefined> {
    try {
      return await this.fs.readText(path);
    } catch {
      return undefined;
    }
  }

  // ---- rendering --------------------------------------------------------------

  private addContainer(
    families: Map<string, Family>,
    e: Entity,
    s: CgroupSample,
    net: InterfaceCounters[] | undefined,
    nowMs: number,
  ): void {
    const base: Record<string, string> = { ...e.labels };
    const stamped = (
      name: string,
      value: number | undefined,
      extra: Record<string, string> = {},
    ): void => {
      if (value === undefined) return;
      const def = containerFamilies[name];
      if (!def) throw new Error(`unknown family ${name}`);
      add(families, name, def.help, def.type, {
        labels: { ...base, ...extra },
        value,
        timestampMs: nowMs,
      });
    };
    const spec = (name: string, value: number | undefined): void => {
      if (value === undefined) return;
      const def = containerFamilies[name];
      if (!def) throw new Error(`unknown family ${name}`);
      add(families, name, def.help, def.type, { labels: base, value });
    };
    const seconds = (ns: number | undefined): number | undefined =>
      ns === undefined ? undefined : ns / 1e9;

    stamped('container_last_seen', Math.floor(nowMs / 1000));
    stamped('container_cpu_usage_seconds_total', seconds(s.cpuUsageNs), { cpu: 'total' });
    stamped('container_cpu_user_seconds_total', seconds(s.cpuUserNs));
    stamped('container_cpu_system_seconds_total', seconds(s.cpuSystemNs));
    stamped('container_memory_usage_bytes', s.memoryUsage);
    stamped('container_memory_working_set_bytes', s.memoryWorkingSet);
    stamped('container_memory_rss', s.memoryRss);
    stamped('container_memory_cache', s.memoryCache);
    stamped('container_memory_swap', s.memoryUsage === undefined ? undefined : s.memorySwap);
    stamped('container_memory_mapped_file', s.memoryMappedFile);
    stamped('container_memory_max_usage_bytes', s.memoryMaxUsage);
    stamped('container_memory_failcnt', s.memoryFailcnt);
    if (s.memoryFaults) {
      const [pf, pmf, hpf, hpmf] = s.memoryFaults;
      const f = 'container_memory_failures_total';
      stamped(f, pf, { failure_type: 'pgfault', scope: 'container' });
      stamped(f, pmf, { failure_type: 'pgmajfault', scope: 'container' });
      stamped(f, hpf, { failure_type: 'pgfault', scope: 'hierarchy' });
      stamped(f, hpmf, { failure_type: 'pgmajfault', scope: 'hierarchy' });
    }
    stamped('container_threads', s.threads);
    stamped('container_threads_max', s.threadsMax);
    stamped('container_processes', s.processes);
    stamped('container_oom_events_total', s.oomEvents);
    for (const i of net ?? []) {
      const l = { interface: i.name };
      stamped('container_network_receive_bytes_total', i.rxBytes, l);
      stamped('container_network_receive_packets_total', i.rxPackets, l);
      stamped('container_network_receive_packets_dropped_total', i.rxDropped, l);
      stamped('container_network_receive_errors_total', i.rxErrors, l);
      stamped('container_network_transmit_bytes_total', i.txBytes, l);
      stamped('container_network_transmit_packets_total', i.txPackets, l);
      stamped('container_network_transmit_packets_dropped_total', i.txDropped, l);
      stamped('container_network_transmit_errors_total', i.txErrors, l);
    }
    spec('container_start_time_seconds', e.startSeconds);
    if (s.cpuUsageNs !== undefined) {
      spec('container_spec_cpu_shares', s.cpuShares);
      spec('container_spec_cpu_period', s.cpuPeriodUs);
      spec('container_spec_cpu_quota', s.cpuQuotaUs);
    }
    spec('container_spec_memory_limit_bytes', s.memoryLimit);
  }
}

/** Creates a {@link CadvisorMetrics}. */
export function createCadvisorMetrics(options: CadvisorMetricsOptions): CadvisorMetrics {
  return new CadvisorMetrics(options);
}

// ---- family definitions (names, types, units and label sets of cAdvisor) --------------

const containerFamilies: Record<string, { help: string; type: Family['type'] }> = {
  container_last_seen: { help: 'Last time a container was seen by the exporter', type: 'gauge' },
  container_cpu_usage_seconds_total: {
    help: 'Cumulative cpu time consumed in seconds.',
    type: 'counter',
  },
  container_cpu_user_seconds_total: {
    help: 'Cumulative user cpu time consumed in seconds.',
    type: 'counter',
  },
  container_cpu_system_seconds_total: {
    help: 'Cumulative system cpu time consumed in seconds.',
    type: 'counter',
  },
  container_memory_usage_bytes: {
    help: 'Current memory usage in bytes, including all memory regardless of when it was accessed',
    type: 'gauge',
  },
  container_memory_working_set_bytes: { help: 'Current working set in bytes.', type: 'gauge' },
  container_memory_rss: { help: 'Size of RSS in bytes.', type: 'gauge' },
  container_memory_cache: { help: 'Number of bytes of page cache memory.', type: 'gauge' },
  container_memory_swap: { help: 'Container swap usage in bytes.', type: 'gauge' },
  container_memory_mapped_file: {
    help: 'Size of memory mapped files in bytes.',
    type: 'gauge',
  },
  container_memory_max_usage_bytes: {
    help: 'Maximum memory usage recorded in bytes',
    type: 'gauge',
  },
  container_memory_failcnt: { help: 'Number of memory usage hits limits', type: 'counter' },
  container_memory_failures_total: {
    help: 'Cumulative count of memory allocation failures.',
    type: 'counter',
  },
  container_threads: { help: 'Number of threads running inside the container', type: 'gauge' },
  container_threads_max: {
    help: 'Maximum number of threads allowed inside the container, infinity if value is zero',
    type: 'gauge',
  },
  container_processes: {
    help: 'Number of processes running inside the container.',
    type: 'gauge',
  },
  container_oom_events_total: {
    help: 'Count of out of memory events observed for the container',
    type: 'counter',
  },
  container_network_receive_bytes_total: {
    help: 'Cumulative count of bytes received',
    type: 'counter',
  },
  container_network_receive_packets_total: {
    help: 'Cumulative count of packets received',
    type: 'counter',
  },
  container_network_receive_packets_dropped_total: {
    help: 'Cumulative count of packets dropped while receiving',
    type: 'counter',
  },
  container_network_receive_errors_total: {
    help: 'Cumulative count of errors encountered while receiving',
    type: 'counter',
  },
  container_network_transmit_bytes_total: {
    help: 'Cumulative count of bytes transmitted',
    type: 'counter',
  },
  container_network_transmit_packets_total: {
    help: 'Cumulative count of packets transmitted',
    type: 'counter',
  },
  container_network_transmit_packets_dropped_total: {
    help: 'Cumulative count of packets dropped while transmitting',
    type: 'counter',
  },
  container_network_transmit_errors_total: {
    help: 'Cumulative count of errors encountered while transmitting',
    type: 'counter',
  },
  container_start_time_seconds: {
    help: 'Start time of the container since unix epoch in seconds.',
    type: 'gauge',
  },
  container_spec_cpu_shares: { help: 'CPU share of the container.', type: 'gauge' },
  container_spec_cpu_period: { help: 'CPU period of the container.', type: 'gauge' },
  container_spec_cpu_quota: { help: 'CPU quota of the container.', type: 'gauge' },
  container_spec_memory_limit_bytes: { help: 'Memory limit for the container.', type: 'gauge' },
};

const machineHelp = {
  machine_cpu_cores: 'Number of logical CPU cores.',
  machine_cpu_physical_cores: 'Number of physical CPU cores.',
  machine_cpu_sockets: 'Number of CPU sockets.',
  machine_memory_bytes: 'Amount of memory installed on the machine.',
  machine_swap_bytes: 'Amount of swap memory available on the machine.',
};

const gaugeHelp = {
  scrapeError: '1 if there was an error while getting container metrics, 0 otherwise',
  machineScrapeError: '1 if there was an error while getting machine metrics, 0 otherwise.',
};

// ---- helpers --------------------------------------------------------------------

function opt<K extends keyof CgroupSample>(
  key: K,
  value: number | undefined,
): Partial<Record<K, number>> {
  return (value === undefined || Number.isNaN(value) ? {} : { [key]: value }) as Partial<
    Record<K, number>
  >;
}

function memoryCommon(
  usage: number | undefined,
  inactiveFile: number | undefined,
  limit: number | undefined,
): CgroupSample {
  return {
    ...opt('memoryUsage', usage),
    ...opt(
      'memoryWorkingSet',
      usage === undefined ? undefined : workingSetBytes(usage, inactiveFile),
    ),
    ...opt('memoryLimit', limit === undefined ? undefined : limit >= unlimited ? 0 : limit),
  };
}

function faults(
  stat: Map<string, number>,
  pf: string,
  pmf: string,
  hpf: string,
  hpmf: string,
): CgroupSample {
  const v = [stat.get(pf), stat.get(pmf), stat.get(hpf), stat.get(hpmf)];
  if (v.some((x) => x === undefined)) return {};
  return { memoryFaults: v as [number, number, number, number] };
}

function rawLabels(cgroup: string): BaseLabels {
  return { container: '', id: cgroup, image: '', name: '', namespace: '', pod: '' };
}

function podLabels(
  labels: Record<string, string>,
  md: cri.PodSandboxMetadata | null | undefined,
): Pick<BaseLabels, 'namespace' | 'pod'> {
  return {
    namespace: labels[podNamespaceLabel] ?? md?.namespace ?? '',
    pod: labels[podNameLabel] ?? md?.name ?? '',
  };
}

/** The parent of a cgroup path; undefined for the root or a top-level cgroup's parent being the root. */
function parentCgroup(cgroup: string): string | undefined {
  const trimmed = cgroup.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  if (i <= 0) return undefined;
  return trimmed.slice(0, i);
}

/** Every ancestor of a cgroup, nearest first, without the root. */
function ancestors(cgroup: string): string[] {
  const out: string[] = [];
  for (let a = parentCgroup(cgroup); a !== undefined; a = parentCgroup(a)) out.push(a);
  return out;
}

/** True when `cgroup` is one of `prefixes` or below one. */
function underAny(cgroup: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => cgroup === p || cgroup.startsWith(`${p}/`));
}

/** The image in a verbose status `info` (containerd's sandbox info has `image`: the pause image). */
export function imageFromVerboseInfo(info: Record<string, string> | undefined): string | undefined {
  for (const value of Object.values(info ?? {})) {
    try {
      const parsed = JSON.parse(value) as unknown;
      if (parsed !== null && typeof parsed === 'object' && 'image' in parsed) {
        const { image } = parsed;
        if (typeof image === 'string' && image !== '') return image;
      }
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** Logical CPUs (`processor` lines), physical cores and sockets of /proc/cpuinfo. */
export function cpuTopology(cpuinfo: string): {
  logical: number | undefined;
  physical: number | undefined;
  sockets: number | undefined;
} {
  let logical = 0;
  const sockets = new Set<string>();
  const cores = new Set<string>();
  let socket: string | undefined;
  for (const line of cpuinfo.split('\n')) {
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    if (key === 'processor') {
      logical++;
      socket = undefined;
    } else if (key === 'physical id') {
      socket = value;
      sockets.add(value!);
    } else if (key === 'core id') {
      cores.add(`${socket ?? ''}/${value}`);
    }
  }
  return {
    logical: logical > 0 ? logical : undefined,
    physical: cores.size > 0 ? cores.size : undefined,
    sockets: sockets.size > 0 ? sockets.size : undefined,
  };
}

function add(
  families: Map<string, Family>,
  name: string,
  help: string,
  type: Family['type'],
  sample: Sample,
): void {
  let f = families.get(name);
  if (!f) {
    f = { help, type, samples: [] };
    families.set(name, f);
  }
  f.samples.push(sample);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

/**
 * Prometheus text 0.0.4: families by name, labels by name, series by label values;
 * a series repeated (same labels) keeps its first sample only, so the output never
 * has duplicates (two IDs resolving to one cgroup).
 */
function render(families: Map<string, Family>): string {
  const lines: string[] = [];
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!;
    const series = new Map<string, Sample>();
    for (const s of f.samples) {
      const keys = Object.keys(s.labels).sort();
      const l = keys.map((k) => `${k}="${escapeLabel(s.labels[k] ?? '')}"`).join(',');
      const key = l === '' ? '' : `{${l}}`;
      if (!series.has(key)) series.set(key, s);
    }
    lines.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`);
    for (const key of [...series.keys()].sort()) {
      const s = series.get(key)!;
      const ts = s.timestampMs === undefined ? '' : ` ${Math.round(s.timestampMs)}`;
      lines.push(`${name}${key} ${formatValue(s.value)}${ts}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
