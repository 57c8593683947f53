import {
  FailedPreconditionError,
  InvalidArgumentError,
  NodeAgentError,
  ErrorCode,
  noopLogger,
  type Clock,
  type Logger,
} from '@nodeagent/core';
import { errnoCode, type CgroupFileSystem } from './cgroup-fs.js';
import { cpuSharesToCpuWeight, hugePageSizeName, type ResourceConfig } from './resource-config.js';

/** Where cgroup filesystems are mounted on a Linux host. */
export const defaultCgroupMountRoot = '/sys/fs/cgroup';

/** `v1` (one hierarchy per controller, possibly with a hybrid `unified` mount) or `v2` (unified). */
export type CgroupVersion = 'v1' | 'v2';

/** One mounted cgroup hierarchy. */
export interface CgroupHierarchy {
  /** Directory name under the mount root (`memory`, `cpu,cpuacct`, `systemd`, `unified`); `''` for pure v2. */
  readonly name: string;
  /** Absolute mount point. */
  readonly mountPoint: string;
  /** True for a cgroup2 hierarchy (pure v2, or the hybrid `unified` mount next to v1). */
  readonly unified: boolean;
  /** v1 controllers bound to it (`['cpu', 'cpuacct']`); `[]` for named and unified hierarchies. */
  readonly controllers: readonly string[];
}

/** The cgroup hierarchies of a host, as found under the mount root. */
export interface CgroupLayout {
  readonly version: CgroupVersion;
  readonly mountRoot: string;
  readonly hierarchies: readonly CgroupHierarchy[];
}

/** Named v1 hierarchies carry no controller (runc joins `name=systemd` and `misc` anyway). */
const namedHierarchies = new Set(['systemd', 'name=systemd']);

/**
 * Detects the host's cgroup layout like runc's `IsCgroup2UnifiedMode`:
 * `<mountRoot>/cgroup.controllers` exists → v2 (one unified hierarchy at the mount
 * root). Otherwise v1: every directory under the mount root holding a `cgroup.procs`
 * is a hierarchy (symlinks such as `cpu → cpu,cpuacct` are skipped, so each hierarchy
 * appears once); a cgroup2 `unified` directory among them is the hybrid mount.
 *
 * @throws FailedPreconditionError when no cgroup hierarchy is found.
 */
export async function detectCgroupLayout(
  fs: CgroupFileSystem,
  mountRoot = defaultCgroupMountRoot,
): Promise<CgroupLayout> {
  if (await fs.exists(join(mountRoot, 'cgroup.controllers'))) {
    return {
      version: 'v2',
      mountRoot,
      hierarchies: [{ name: '', mountPoint: mountRoot, unified: true, controllers: [] }],
    };
  }
  const hierarchies: CgroupHierarchy[] = [];
  for (const name of (await fs.listDirectories(mountRoot)).sort()) {
    const mountPoint = join(mountRoot, name);
    if (!(await fs.exists(join(mountPoint, 'cgroup.procs')))) continue;
    if (await fs.exists(join(mountPoint, 'cgroup.controllers'))) {
      hierarchies.push({ name, mountPoint, unified: true, controllers: [] });
    } else {
      const controllers = namedHierarchies.has(name) ? [] : name.split(',');
      hierarchies.push({ name, mountPoint, unified: false, controllers });
    }
  }
  if (hierarchies.length === 0) {
    throw new FailedPreconditionError(`no cgroup hierarchy is mounted under ${mountRoot}`);
  }
  return { version: 'v1', mountRoot, hierarchies };
}

/** Joins an absolute base and a cgroup path (`/a/b`), without `..` handling (names are validated). */
function join(base: string, ...parts: string[]): string {
  let out = base.endsWith('/') && base.length > 1 ? base.slice(0, -1) : base;
  for (const part of parts) {
    for (const seg of part.split('/')) {
      if (seg === '') continue;
      out = out === '/' ? `/${seg}` : `${out}/${seg}`;
    }
  }
  return out;
}

/** Components of a cgroupfs cgroup name; rejects relative names and `.`/`..`. */
function components(name: string): string[] {
  if (!name.startsWith('/'))
    throw new InvalidArgumentError(`cgroup name must be absolute, got ${JSON.stringify(name)}`);
  const parts = name.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) {
    throw new InvalidArgumentError(
      `cgroup name must not contain . or .., got ${JSON.stringify(name)}`,
    );
  }
  return parts;
}

/** v1 controllers whose directory must exist for a cgroup to count as existing (kubelet `Exists` whitelist). */
const existenceControllers = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'hugetlb'];

const hugePageUnitBytes: Readonly<Record<string, number>> = {
  '': 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
};

/** Delay before the first rmdir retry (libcontainer `RemovePath`: 10 ms, doubling, 5 attempts). */
export const removeRetryInitialDelayMs = 10;
/** Attempts to remove one cgroup directory before giving up. */
export const removeRetryAttempts = 5;

/** Options of {@link CgroupfsManager}. */
export interface CgroupfsManagerOptions {
  /** File operations; {@link hostCgroupFileSystem} on a real host. */
  fs: CgroupFileSystem;
  /** The layout from {@link detectCgroupLayout}. */
  layout: CgroupLayout;
  /** Waits between rmdir retries. */
  clock: Clock;
  logger?: Logger;
}

/**
 * The cgroupfs driver of the kubelet's `CgroupManager` (`cgroup_manager_linux.go`):
 * creates, updates, lists and removes one cgroup across every mounted hierarchy.
 * Cgroup names are cgroupfs paths such as `/nodeagent/kubepods/burstable/pod<uid>`.
 */
export class CgroupfsManager {
  readonly layout: CgroupLayout;
  private readonly fs: CgroupFileSystem;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(options: CgroupfsManagerOptions) {
    this.fs = options.fs;
    this.layout = options.layout;
    this.clock = options.clock;
    this.logger = options.logger ?? noopLogger;
  }

  /** The cgroup's directory in every hierarchy, by hierarchy name. */
  paths(name: string): Map<string, string> {
    const parts = components(name);
    return new Map(this.layout.hierarchies.map((h) => [h.name, join(h.mountPoint, ...parts)]));
  }

  /**
   * Whether the cgroup exists: in v2 its directory; in v1 its directory in every
   * mounted hierarchy of cpu, cpuacct, cpuset, memory, pids and hugetlb (kubelet `Exists`).
   */
  async exists(name: string): Promise<boolean> {
    const parts = components(name);
    for (const h of this.layout.hierarchies) {
      if (
        this.layout.version === 'v1' &&
        !h.controllers.some((c) => existenceControllers.includes(c))
      )
        continue;
      if (!(await this.fs.exists(join(h.mountPoint, ...parts)))) return false;
    }
    return true;
  }

  /**
   * Creates the cgroup, and missing ancestors, in every hierarchy (kubelet `Create`,
   * runc's `Apply(-1)`), then writes `resources`. v1 cpuset directories get
   * `cpuset.cpus`/`cpuset.mems` from their parent (an empty cpuset cannot hold tasks);
   * in v2 every ancestor enables its available controllers in `cgroup.subtree_control`.
   * Existing directories are kept.
   */
  async create(name: string, resources: ResourceConfig = {}): Promise<void> {
    const parts = components(name);
    // Hierarchies are independent: create the path in all of them at once (on cgroup v1
    // a pod cgroup is a directory in a dozen hierarchies; this is on the pod start path).
    await Promise.all(
      this.layout.hierarchies.map(async (h) => {
        let dir = h.mountPoint;
        for (const part of parts) {
          if (h.unified) await this.enableSubtreeControllers(dir);
          const child = join(dir, part);
          if (!(await this.fs.exists(child))) await this.fs.mkdir(child);
          if (h.controllers.includes('cpuset')) await this.initCpuset(dir, child);
          dir = child;
        }
      }),
    );
    await this.update(name, resources);
  }

  /** Writes `resources` to the existing cgroup (kubelet `Update`); absent fields are left alone. */
  async update(name: string, resources: ResourceConfig): Promise<void> {
    const parts = components(name);
    if (this.layout.version === 'v2') {
      const h = this.layout.hierarchies[0];
      if (h) await this.updateV2(name, join(h.mountPoint, ...parts), resources);
      return;
    }
    const dirFor = (controller: string, required: boolean): string | undefined => {
      const h = this.layout.hierarchies.find((x) => x.controllers.includes(controller));
      if (!h) {
        if (!required) return undefined;
        throw new FailedPreconditionError(
          `cannot set ${controller} limits on cgroup ${name}: the ${controller} controller is not mounted under ${this.layout.mountRoot}`,
        );
      }
      return join(h.mountPoint, ...parts);
    };

    const needsCpu =
      resources.cpuShares !== undefined ||
      resources.cpuQuota !== undefined ||
      resources.cpuPeriod !== undefined;
    if (needsCpu) {
      const dir = dirFor('cpu', true)!;
      if (resources.cpuShares !== undefined && resources.cpuShares !== 0) {
        await this.write(name, dir, 'cpu.shares', String(resources.cpuShares));
      }
      await this.writeCfs(name, dir, resources);
    }
    if (resources.memory !== undefined && resources.memory !== 0) {
      await this.write(
        name,
        dirFor('memory', true)!,
        'memory.limit_in_bytes',
        String(resources.memory),
      );
    }
    if (resources.pidsLimit !== undefined && resources.pidsLimit !== 0) {
      const value = resources.pidsLimit < 0 ? 'max' : String(resources.pidsLimit);
      await this.write(name, dirFor('pids', true)!, 'pids.max', value);
    }
    if (resources.hugePageLimit !== undefined) {
      // Optional subsystem (kubelet `maybeSetHugetlb`): skipped when hugetlb is not mounted.
      const dir = dirFor('hugetlb', false);
      if (dir !== undefined)
        await this.writeHugetlb(name, dir, resources.hugePageLimit, 'limit_in_bytes');
    }
  }

  /**
   * Removes the cgroup in every hierarchy (libcontainer `RemovePaths`): `rmdir` of the
   * directory, after removing empty child cgroups depth-first; retried 5 times with
   * 10 ms doubling delays on `EBUSY`. Missing directories are fine (idempotent).
   * Never deletes files and never kills processes.
   *
   * @throws FailedPreconditionError naming the pids when the cgroup still has tasks.
   */
  async destroy(name: string): Promise<void> {
    for (const dir of this.paths(name).values()) await this.removePath(name, dir);
  }

  /** Process IDs in the cgroup and its descendants, over every hierarchy (kubelet `Pids`). */
  async pids(name: string): Promise<number[]> {
    const found = new Set<number>();
    const walk = async (dir: string): Promise<void> => {
      for (const pid of await this.readProcs(dir)) found.add(pid);
      for (const child of await this.fs.listDirectories(dir)) await walk(join(dir, child));
    };
    for (const dir of this.paths(name).values()) await walk(dir);
    return [...found].sort((a, b) => a - b);
  }

  /**
   * Huge page sizes in bytes the kernel offers in this (existing) cgroup, from its
   * `hugetlb.<size>.limit_in_bytes` (v1) or `hugetlb.<size>.max` (v2) files; `[]` without hugetlb.
   */
  async hugePageSizes(name: string): Promise<number[]> {
    const parts = components(name);
    const h =
      this.layout.version === 'v2'
        ? this.layout.hierarchies[0]
        : this.layout.hierarchies.find((x) => x.controllers.includes('hugetlb'));
    if (!h) return [];
    const sizes: number[] = [];
    for (const file of await this.fs.listFiles(join(h.mountPoint, ...parts))) {
      const m = /^hugetlb\.([0-9]+)([KMGTP]?)B\.(?:limit_in_bytes|max)$/.exec(file);
      if (!m?.[1]) continue;
      sizes.push(Number(m[1]) * (hugePageUnitBytes[m[2] ?? ''] ?? 1));
    }
    return sizes.sort((a, b) => a - b);
  }

  /** Names of the child cgroups of `name`, united over every hierarchy. */
  async children(name: string): Promise<string[]> {
    const names = new Set<string>();
    for (const dir of this.paths(name).values()) {
      for (const child of await this.fs.listDirectories(dir)) names.add(child);
    }
    return [...names].sort();
  }

  /**
   * Removes the cgroup's directory in every hierarchy only if it has no child cgroups
   * and no tasks (plain `rmdir`, no retry). Returns false when a directory is still in use.
   */
  async removeIfEmpty(name: string): Promise<boolean> {
    let removedAll = true;
    for (const dir of this.paths(name).values()) {
      try {
        await this.fs.rmdir(dir);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT') continue;
        if (code === 'EBUSY' || code === 'ENOTEMPTY') {
          removedAll = false;
          continue;
        }
        throw this.ioError(`cannot remove cgroup ${name}`, dir, err);
      }
    }
    return removedAll;
  }

  private async updateV2(name: string, dir: string, resources: ResourceConfig): Promise<void> {
    if (resources.cpuShares !== undefined && resources.cpuShares !== 0) {
      await this.write(name, dir, 'cpu.weight', String(cpuSharesToCpuWeight(resources.cpuShares)));
    }
    const quota = resources.cpuQuota ?? 0;
    const period = resources.cpuPeriod ?? 0;
    if (quota !== 0 || period !== 0) {
      // runc fs2 setCpu: "max" unless a positive quota, then the period if given.
      let value = quota > 0 ? String(quota) : 'max';
      if (period !== 0) value += ` ${period}`;
      await this.write(name, dir, 'cpu.max', value);
    }
    if (resources.memory !== undefined && resources.memory !== 0) {
      await this.write(
        name,
        dir,
        'memory.max',
        resources.memory < 0 ? 'max' : String(resources.memory),
      );
    }
    if (resources.pidsLimit !== undefined && resources.pidsLimit !== 0) {
      await this.write(
        name,
        dir,
        'pids.max',
        resources.pidsLimit < 0 ? 'max' : String(resources.pidsLimit),
      );
    }
    if (resources.hugePageLimit !== undefined) {
      const parent = dir.slice(0, dir.lastIndexOf('/')) || '/';
      const controllers = await this.readControllers(join(parent, 'cgroup.subtree_control'));
      if (controllers.includes('hugetlb'))
        await this.writeHugetlb(name, dir, resources.hugePageLimit, 'max');
    }
  }

  /**
   * CFS period and quota (libcontainer v1 `CpuGroup.Set`): period first; when the
   * kernel refuses the period because of the current quota (EINVAL), quota first.
   */
  private async writeCfs(name: string, dir: string, resources: ResourceConfig): Promise<void> {
    const { cpuQuota: quota, cpuPeriod: period } = resources;
    const writeQuota = async (): Promise<void> => {
      if (quota !== undefined && quota !== 0)
        await this.write(name, dir, 'cpu.cfs_quota_us', String(quota));
    };
    if (period === undefined || period === 0) return writeQuota();
    try {
      await this.fs.writeFile(join(dir, 'cpu.cfs_period_us'), String(period));
    } catch (err) {
      if (errnoCode(err) !== 'EINVAL' || quota === undefined || quota === 0) {
        throw this.ioError(`cannot set cpu.cfs_period_us of cgroup ${name}`, dir, err);
      }
      await writeQuota();
      await this.write(name, dir, 'cpu.cfs_period_us', String(period));
      return;
    }
    await writeQuota();
  }

  /**
   * Huge page limits (kubelet `maybeSetHugetlb`): the given sizes, and 0 for every
   * other page size the kernel offers, so a pod can use only the huge pages it asked for.
   */
  private async writeHugetlb(
    name: string,
    dir: string,
    limits: ReadonlyMap<number, number>,
    suffix: 'limit_in_bytes' | 'max',
  ): Promise<void> {
    const pattern = new RegExp(
      `^hugetlb\\.([0-9]+[KMGTP]?B)\\.${suffix === 'max' ? 'max' : 'limit_in_bytes'}$`,
    );
    const offered = new Set<string>();
    for (const file of await this.fs.listFiles(dir)) {
      const m = pattern.exec(file);
      if (m?.[1]) offered.add(m[1]);
    }
    const values = new Map<string, number>();
    for (const [pageSize, limit] of limits) {
      const sizeName = hugePageSizeName(pageSize);
      if (sizeName === undefined) {
        this.logger.warn('Invalid huge page size', { cgroup: name, pageSize });
        continue;
      }
      values.set(sizeName, limit);
    }
    for (const size of offered) if (!values.has(size)) values.set(size, 0);
    for (const [size, limit] of values) {
      await this.write(name, dir, `hugetlb.${size}.${suffix}`, String(limit));
    }
  }

  /** Copies cpuset.cpus and cpuset.mems from the parent when the child's are empty (v1). */
  private async initCpuset(parent: string, child: string): Promise<void> {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const own = (await this.fs.readFile(join(child, file))).trim();
      if (own !== '') continue;
      const inherited = (await this.fs.readFile(join(parent, file))).trim();
      if (inherited === '') continue;
      await this.fs.writeFile(join(child, file), inherited);
    }
  }

  /** Enables in `dir`'s subtree_control every controller it has that is not enabled yet (runc fs2). */
  private async enableSubtreeControllers(dir: string): Promise<void> {
    const available = await this.readControllers(join(dir, 'cgroup.controllers'));
    if (available.length === 0) return;
    const enabled = new Set(await this.readControllers(join(dir, 'cgroup.subtree_control')));
    const missing = available.filter((c) => !enabled.has(c));
    if (missing.length === 0) return;
    const file = join(dir, 'cgroup.subtree_control');
    try {
      await this.fs.writeFile(file, missing.map((c) => `+${c}`).join(' '));
    } catch {
      // One controller that cannot be enabled must not keep the others off: one by one.
      for (const c of missing) {
        try {
          await this.fs.writeFile(file, `+${c}`);
        } catch (err) {
          this.logger.debug('Cannot enable cgroup controller', {
            dir,
            controller: c,
            error: String(err),
          });
        }
      }
    }
  }

  private async readControllers(file: string): Promise<string[]> {
    try {
      return (await this.fs.readFile(file)).split(/\s+/).filter((c) => c !== '');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  private async readProcs(dir: string): Promise<number[]> {
    try {
      return (await this.fs.readFile(join(dir, 'cgroup.procs')))
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => Number.parseInt(l, 10))
        .filter((n) => Number.isInteger(n));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  private async removePath(name: string, dir: string): Promise<void> {
    let delay = removeRetryInitialDelayMs;
    let lastError: unknown;
    for (let attempt = 0; attempt < removeRetryAttempts; attempt++) {
      if (attempt > 0) {
        await this.clock.sleep(delay);
        delay *= 2;
      }
      try {
        await this.removeTree(dir);
        return;
      } catch (err) {
        lastError = err;
        const code = errnoCode(err);
        if (code !== 'EBUSY' && code !== 'ENOTEMPTY') break;
      }
    }
    const pids: number[] = [];
    const walk = async (d: string): Promise<void> => {
      pids.push(...(await this.readProcs(d)));
      for (const child of await this.fs.listDirectories(d)) await walk(join(d, child));
    };
    await walk(dir).catch(() => undefined);
    if (pids.length > 0) {
      throw new FailedPreconditionError(
        `cannot remove cgroup ${name}: ${dir} still has processes ${pids.join(', ')}; they must be killed first`,
        { cause: lastError, operation: 'CgroupManager/Destroy' },
      );
    }
    throw this.ioError(`cannot remove cgroup ${name}`, dir, lastError);
  }

  /** rmdir `dir`; when busy, rmdir its child cgroups depth-first and try again. */
  private async removeTree(dir: string): Promise<void> {
    try {
      await this.fs.rmdir(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
      const children = await this.fs.listDirectories(dir);
      if (children.length === 0) throw err;
    }
    for (const child of await this.fs.listDirectories(dir)) await this.removeTree(join(dir, child));
    try {
      await this.fs.rmdir(dir);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }

  private async write(name: string, dir: string, file: string, value: string): Promise<void> {
    try {
      await this.fs.writeFile(join(dir, file), value);
    } catch (err) {
      throw this.ioError(`cannot set ${file}=${value} on cgroup ${name}`, dir, err);
    }
  }

  private ioError(message: string, dir: string, err: unknown): NodeAgentError {
    const code = errnoCode(err);
    const detail = err instanceof Error ? err.message : String(err);
    if (code === 'ENOENT') {
      return new FailedPreconditionError(`${message}: ${dir} does not exist or lacks the file`, {
        cause: err,
        detail,
      });
    }
    return new NodeAgentError(ErrorCode.Internal, `${message} (${dir}): ${detail}`, {
      cause: err,
      detail,
    });
  }
}
