import type { HostFilesystem } from './host-fs.js';
import { isNotFound } from './host-fs.js';
import { parseFlatKeyed, parseSingleNumber } from './proc.js';

/** Which cgroup layout the host uses. */
export type CgroupVersion = 'v1' | 'v2';

/** Raw memory figures of one cgroup, bytes and counts, as cadvisor reads them. */
export interface CgroupMemory {
  /** Usage including page cache (v1 `memory.usage_in_bytes`, v2 `memory.current`). */
  usageBytes: number | undefined;
  /** Inactive file pages (v1 `total_inactive_file`, v2 `inactive_file`). */
  inactiveFileBytes: number | undefined;
  /** Anonymous memory and swap cache (v1 `total_rss`, v2 `anon`). */
  rssBytes: number | undefined;
  /** Cumulative minor faults (v1 `total_pgfault`, v2 `pgfault`). */
  pageFaults: number | undefined;
  /** Cumulative major faults (v1 `total_pgmajfault`, v2 `pgmajfault`). */
  majorPageFaults: number | undefined;
  /** The memory limit; undefined when unlimited. */
  limitBytes: number | undefined;
}

/**
 * Values at or above this are "no limit": cgroup v1 reports unlimited as
 * PAGE_COUNTER_MAX × page size (9223372036854771712), cgroup v2 as `max`.
 */
const unlimitedThreshold = 2 ** 62;

/**
 * Reads CPU and memory accounting of cgroups under `cgroupRoot` (default
 * /sys/fs/cgroup), for cgroup v1 (the `cpuacct` and `memory` hierarchies) and for
 * the unified v2 tree. Cgroup paths are absolute within the hierarchy (`/` is the
 * root cgroup, i.e. the whole machine).
 */
export class CgroupReader {
  private versionPromise: Promise<CgroupVersion> | undefined;

  constructor(
    private readonly fs: HostFilesystem,
    private readonly cgroupRoot = '/sys/fs/cgroup',
  ) {}

  /** v2 when `<cgroupRoot>/cgroup.controllers` exists (a unified mount), else v1. */
  version(): Promise<CgroupVersion> {
    this.versionPromise ??= this.fs.readText(`${this.cgroupRoot}/cgroup.controllers`).then(
      () => 'v2' as const,
      () => 'v1' as const,
    );
    return this.versionPromise;
  }

  /**
   * Cumulative CPU time of the cgroup in nanoseconds (v1 `cpuacct.usage`, v2
   * `cpu.stat usage_usec` × 1000); undefined when the cgroup or file is missing.
   */
  async cpuUsageNanoSeconds(cgroup: string): Promise<number | undefined> {
    if ((await this.version()) === 'v2') {
      const text = await this.readOptional(this.path('', cgroup, 'cpu.stat'));
      const usec = text === undefined ? undefined : parseFlatKeyed(text).get('usage_usec');
      return usec === undefined ? undefined : usec * 1000;
    }
    for (const hierarchy of ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu']) {
      const text = await this.readOptional(this.path(hierarchy, cgroup, 'cpuacct.usage'));
      if (text !== undefined) return parseSingleNumber(text);
    }
    return undefined;
  }

  /** Memory accounting of the cgroup; undefined when the memory controller has no such cgroup. */
  async memory(cgroup: string): Promise<CgroupMemory | undefined> {
    const v2 = (await this.version()) === 'v2';
    const h = v2 ? '' : 'memory';
    const statText = await this.readOptional(this.path(h, cgroup, 'memory.stat'));
    if (statText === undefined) return undefined;
    const stat = parseFlatKeyed(statText);
    const usageFile = v2 ? 'memory.current' : 'memory.usage_in_bytes';
    const limitFile = v2 ? 'memory.max' : 'memory.limit_in_bytes';
    const [usageText, limitText] = await Promise.all([
      this.readOptional(this.path(h, cgroup, usageFile)),
      this.readOptional(this.path(h, cgroup, limitFile)),
    ]);
    const limit = limitText === undefined ? undefined : parseSingleNumber(limitText);
    const prefix = v2 ? '' : 'total_';
    return {
      usageBytes: usageText === undefined ? undefined : parseSingleNumber(usageText),
      inactiveFileBytes: stat.get(`${prefix}inactive_file`),
      rssBytes: stat.get(v2 ? 'anon' : 'total_rss'),
      pageFaults: stat.get(`${prefix}pgfault`),
      majorPageFaults: stat.get(`${prefix}pgmajfault`),
      limitBytes: limit === undefined || limit >= unlimitedThreshold ? undefined : limit,
    };
  }

  /**
   * Number of processes in the cgroup and its descendants (the lines of every
   * `cgroup.procs`; v1 in the `pids` hierarchy, else `memory`, else `cpu,cpuacct`), as
   * cadvisor's `ProcessStats.ProcessCount`; undefined when the cgroup does not exist.
   */
  async processCount(cgroup: string): Promise<number | undefined> {
    const hierarchies =
      (await this.version()) === 'v2' ? [''] : ['pids', 'memory', 'cpu,cpuacct', 'cpuacct'];
    for (const h of hierarchies) {
      const n = await this.countProcs(this.dir(h, cgroup));
      if (n !== undefined) return n;
    }
    return undefined;
  }

  private async countProcs(dir: string, depth = 0): Promise<number | undefined> {
    const text = await this.readOptional(`${dir}/cgroup.procs`);
    if (text === undefined) return undefined;
    let n = text.split('\n').filter((l) => l.trim() !== '').length;
    if (depth >= 8) return n;
    let entries: string[];
    try {
      entries = await this.fs.readdir(dir);
    } catch {
      return n;
    }
    for (const name of entries) {
      const child = `${dir}/${name}`;
      // Child cgroups are the directories; the rest are control files.
      const isDir = await this.fs.lstat(child).then(
        (st) => st.isDirectory(),
        () => false,
      );
      if (isDir) n += (await this.countProcs(child, depth + 1)) ?? 0;
    }
    return n;
  }

  private path(hierarchy: string, cgroup: string, file: string): string {
    return `${this.dir(hierarchy, cgroup)}/${file}`;
  }

  private dir(hierarchy: string, cgroup: string): string {
    const rel = cgroup === '/' || cgroup === '' ? '' : `/${cgroup.replace(/^\/+|\/+$/g, '')}`;
    return `${this.cgroupRoot}${hierarchy ? `/${hierarchy}` : ''}${rel}`;
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

/**
 * The working set the way cadvisor computes it: usage minus inactive file pages,
 * never below zero.
 */
export function workingSetBytes(usage: number, inactiveFile: number | undefined): number {
  if (inactiveFile === undefined) return usage;
  return inactiveFile < usage ? usage - inactiveFile : 0;
}
