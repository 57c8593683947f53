import type { CgroupReader } from './cgroup-reader.js';
import { workingSetBytes } from './cgroup-reader.js';
import { isNotFound, type HostFilesystem } from './host-fs.js';
import {
  parseFlatKeyed,
  parseLoadavgTasks,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseSingleNumber,
  type NetDevCounters,
} from './proc.js';

/** Memory of the whole machine, bytes and counts (cadvisor's root container). */
export interface MachineMemory {
  /** MemTotal: the machine's capacity, used as the root container's limit. */
  capacityBytes: number;
  usageBytes: number;
  workingSetBytes: number;
  /** capacity − working set. */
  availableBytes: number;
  rssBytes: number | undefined;
  pageFaults: number | undefined;
  majorPageFaults: number | undefined;
}

/** The OS task limits (kubelet pidlimit). */
export interface MachineRlimit {
  /** min(kernel.pid_max, kernel.threads-max); undefined if either cannot be read. */
  maxPid: number | undefined;
  /** Tasks now, from /proc/loadavg. */
  tasks: number | undefined;
}

/**
 * Interface name prefixes that are not the node's own network: loopback and the
 * host ends of pod veth pairs (cadvisor's `ignoredDevicePrefixes`).
 */
export const ignoredInterfacePrefixes: readonly string[] = ['lo', 'veth', 'docker', 'nerdctl'];

/**
 * Machine-wide figures: CPU and memory of the root cgroup (falling back to
 * /proc/stat and /proc/meminfo), interface counters, task limits and boot time.
 * All reads go through the injected {@link HostFilesystem} under `procRoot`.
 */
export class MachineReader {
  constructor(
    private readonly fs: HostFilesystem,
    private readonly cgroups: CgroupReader,
    private readonly procRoot = '/proc',
  ) {}

  /**
   * Cumulative busy CPU time of all cores, nanoseconds: the root cgroup's
   * `cpuacct.usage` (v1) or `cpu.stat usage_usec` (v2), else /proc/stat.
   */
  async cpuUsageNanoSeconds(): Promise<number> {
    const fromCgroup = await this.cgroups.cpuUsageNanoSeconds('/');
    if (fromCgroup !== undefined) return fromCgroup;
    const { cpuUsageNanoSeconds } = parseProcStat(await this.fs.readText(`${this.procRoot}/stat`));
    if (cpuUsageNanoSeconds === undefined) throw new Error(`no cpu line in ${this.procRoot}/stat`);
    return cpuUsageNanoSeconds;
  }

  /**
   * Machine memory as cadvisor reports the root container: usage from the root
   * memory cgroup (v1) or MemTotal − MemFree (v2 root and no-cgroup hosts, as runc
   * does); working set = usage − inactive file; available = MemTotal − working set.
   */
  async memory(): Promise<MachineMemory> {
    const [meminfoText, cg] = await Promise.all([
      this.fs.readText(`${this.procRoot}/meminfo`),
      this.cgroups.memory('/'),
    ]);
    const meminfo = parseMeminfo(meminfoText);
    const capacity = meminfo.get('MemTotal');
    if (capacity === undefined) throw new Error(`no MemTotal in ${this.procRoot}/meminfo`);
    const usage = cg?.usageBytes ?? capacity - (meminfo.get('MemFree') ?? 0);
    const inactiveFile = cg?.inactiveFileBytes ?? meminfo.get('Inactive(file)');
    let pageFaults = cg?.pageFaults;
    let majorPageFaults = cg?.majorPageFaults;
    if (pageFaults === undefined || majorPageFaults === undefined) {
      const vmstat = await this.readOptional(`${this.procRoot}/vmstat`);
      const v = vmstat === undefined ? undefined : parseFlatKeyed(vmstat);
      pageFaults ??= v?.get('pgfault');
      majorPageFaults ??= v?.get('pgmajfault');
    }
    const workingSet = workingSetBytes(usage, inactiveFile);
    return {
      capacityBytes: capacity,
      usageBytes: usage,
      workingSetBytes: workingSet,
      availableBytes: Math.max(0, capacity - workingSet),
      rssBytes: cg?.rssBytes ?? meminfo.get('AnonPages'),
      pageFaults,
      majorPageFaults,
    };
  }

  /** Counters of the host's interfaces from /proc/net/dev, without {@link ignoredInterfacePrefixes}. */
  async network(): Promise<NetDevCounters[]> {
    const all = parseNetDev(await this.fs.readText(`${this.procRoot}/net/dev`));
    return all.filter((i) => !ignoredInterfacePrefixes.some((p) => i.name.startsWith(p)));
  }

  /**
   * The kubelet's `pidlimit.Stats()`: max = min(pid_max, threads-max) when both can
   * be read; current = the task count from /proc/loadavg.
   */
  async rlimit(): Promise<MachineRlimit> {
    const [pidMax, threadsMax, loadavg] = await Promise.all([
      this.readOptional(`${this.procRoot}/sys/kernel/pid_max`),
      this.readOptional(`${this.procRoot}/sys/kernel/threads-max`),
      this.readOptional(`${this.procRoot}/loadavg`),
    ]);
    const a = pidMax === undefined ? undefined : parseSingleNumber(pidMax);
    const b = threadsMax === undefined ? undefined : parseSingleNumber(threadsMax);
    return {
      maxPid: a === undefined || b === undefined ? undefined : Math.min(a, b),
      tasks: loadavg === undefined ? undefined : parseLoadavgTasks(loadavg),
    };
  }

  /** Boot time in epoch milliseconds (/proc/stat `btime`), undefined if unknown. */
  async bootTimeMs(): Promise<number | undefined> {
    const text = await this.readOptional(`${this.procRoot}/stat`);
    const btime = text === undefined ? undefined : parseProcStat(text).bootTimeSeconds;
    return btime === undefined ? undefined : btime * 1000;
  }

  private async readOptional(path: string): Promise<string | undefined> {
    try {
      return await this.fs.readText(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
