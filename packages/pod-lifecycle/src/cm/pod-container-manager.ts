import {
  Clock,
  InvalidArgumentError,
  InvalidConfigError,
  Logger,
  createToken,
  noopLogger,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type k8s,
} from '@nodeagent/core';
import {
  milliCPUToShares,
  minShares,
  podCgroupName,
  qosCgroupName,
  quotaPeriodUs,
  type CgroupDriver,
} from '../kuberuntime/cgroups.js';
import { podQOSOrBestEffort, type PodQOSClass } from '../kuberuntime/qos.js';
import { quantityMilliValue } from '@nodeagent/core';
import { podRequests } from '../kuberuntime/resource-lists.js';
import { hostCgroupFileSystem, type CgroupFileSystem } from './cgroup-fs.js';
import {
  CgroupfsManager,
  defaultCgroupMountRoot,
  detectCgroupLayout,
  type CgroupLayout,
  type CgroupVersion,
} from './cgroup-manager.js';
import { resourceConfigForPod, type ResourceConfig } from './resource-config.js';

/** Prefix of a pod cgroup's directory name (kubelet `podCgroupNamePrefix`): `pod<uid>`. */
export const podCgroupNamePrefix = 'pod';

/**
 * Huge page limit of the QoS cgroups, "unbounded" (kubelet `setHugePagesUnbounded`:
 * 1<<62 bytes for every page size).
 */
export const qosHugePageLimitBytes = 2 ** 62;

/**
 * Pod-level cgroups under the kubelet's QoS hierarchy (kubelet `cm.PodContainerManager`
 * together with the `QOSContainerManager`): `<cgroupRoot>/kubepods` for Guaranteed pods,
 * `…/kubepods/burstable` and `…/kubepods/besteffort`, and one `pod<uid>` cgroup per pod
 * whose path is the sandbox's `cgroupParent`.
 */
export interface PodContainerManager {
  /** The host's cgroup version (detected once from the mount layout). */
  cgroupVersion(): Promise<CgroupVersion>;
  /** Name (cgroupfs path) of a QoS class's cgroup, e.g. `/nodeagent/kubepods/burstable`. */
  qosCgroupName(qos: PodQOSClass): string;
  /** Name (cgroupfs path) of the pod's cgroup, e.g. `/nodeagent/kubepods/burstable/pod<uid>`. */
  podCgroupName(pod: k8s.Pod): string;
  /**
   * Creates `kubepods`, `kubepods/burstable` and `kubepods/besteffort` (kubelet
   * `qosContainerManagerImpl.Start`): BestEffort with CPU shares 2 (v2: `cpu.weight` 1),
   * huge pages unbounded on both QoS cgroups. Idempotent.
   */
  ensureQosCgroups(): Promise<void>;
  /**
   * Recomputes the QoS cgroups from the active pods (kubelet `UpdateCgroups`):
   * burstable CPU shares from the summed CPU requests of the Burstable pods, besteffort 2.
   */
  updateQosCgroups(activePods: readonly k8s.Pod[]): Promise<void>;
  /**
   * Removes the QoS cgroups that hold no pod cgroups and no tasks (for tests and
   * uninstall); returns true when all of them are gone.
   */
  destroyQosCgroups(): Promise<boolean>;
  /** Whether the pod's cgroup exists (kubelet `podContainerManagerImpl.Exists`). */
  podCgroupExists(pod: k8s.Pod): Promise<boolean>;
  /**
   * Creates the pod's cgroup with the pod's resources (kubelet `EnsureExists` with
   * `ResourceConfigForPod`), creating the QoS cgroups first if needed. An existing pod
   * cgroup is left as it is. Returns the `cgroupParent` to give the runtime.
   */
  ensurePodCgroup(pod: k8s.Pod): Promise<string>;
  /**
   * Removes the pod's cgroup in every hierarchy, wherever under the QoS cgroups it is
   * (kubelet `Destroy`, without killing processes). Idempotent.
   * @throws FailedPreconditionError when processes still run in it.
   */
  destroyPodCgroup(podOrUid: k8s.Pod | string): Promise<void>;
  /** UIDs of every pod cgroup found under the QoS cgroups (kubelet `GetAllPodsFromCgroups`), sorted. */
  listPodCgroups(): Promise<string[]>;
  /** Process IDs in the pod's cgroup and its container cgroups (kubelet `GetPodCgroupPids`-like). */
  podCgroupPids(podOrUid: k8s.Pod | string): Promise<number[]>;
}
export const PodContainerManager: InjectionToken<PodContainerManager> =
  createToken<PodContainerManager>('PodContainerManager');

/** Options of {@link CgroupfsPodContainerManager}; fields named after the KubeletConfiguration's. */
export interface PodContainerManagerOptions {
  /** Waits between rmdir retries. */
  clock: Clock;
  logger?: Logger;
  /** `cgroupRoot`: where `kubepods` is created, a cgroupfs path; default `/`. */
  cgroupRoot?: string;
  /** `cgroupDriver`: only `cgroupfs` is supported (default); `systemd` is rejected. */
  cgroupDriver?: CgroupDriver;
  /** Where the cgroup filesystems are mounted; default `/sys/fs/cgroup`. Tests point it at a temp directory. */
  cgroupMountRoot?: string;
  /** File operations; default the host's. */
  fs?: CgroupFileSystem;
  /** `podPidsLimit`: maximum processes per pod; unset, 0 or negative = none (kubelet default -1). */
  podPidsLimit?: number;
  /** `cpuCFSQuota`: enforce CPU limits with CFS quota; default true. */
  cpuCFSQuota?: boolean;
  /** `cpuCFSQuotaPeriod` in microseconds; default 100000. */
  cpuCFSQuotaPeriodUs?: number;
}

function uidOf(podOrUid: k8s.Pod | string): string {
  const uid = typeof podOrUid === 'string' ? podOrUid : podOrUid.metadata?.uid;
  if (!uid) throw new InvalidArgumentError('pod has no metadata.uid; cannot find its cgroup');
  if (uid.includes('/') || uid === '.' || uid === '..') {
    throw new InvalidArgumentError(`pod UID ${JSON.stringify(uid)} cannot name a cgroup`);
  }
  return uid;
}

const qosClasses: readonly PodQOSClass[] = ['Guaranteed', 'Burstable', 'BestEffort'];

/**
 * {@link PodContainerManager} with the cgroupfs driver on cgroup v1 (every mounted
 * hierarchy, including `name=systemd` and a hybrid `unified` mount, as runc joins them
 * all) or cgroup v2 (the unified tree, enabling controllers in `cgroup.subtree_control`).
 */
export class CgroupfsPodContainerManager implements PodContainerManager {
  private readonly options: PodContainerManagerOptions;
  private readonly fs: CgroupFileSystem;
  private readonly logger: Logger;
  private readonly cgroupRoot: string;
  private manager: Promise<CgroupfsManager> | undefined;
  private qosEnsured: Promise<void> | undefined;

  /** @throws InvalidConfigError for the systemd driver or a relative cgroupRoot. */
  constructor(options: PodContainerManagerOptions) {
    const driver = options.cgroupDriver ?? 'cgroupfs';
    if (driver !== 'cgroupfs') {
      throw new InvalidConfigError(
        `cgroupDriver ${JSON.stringify(driver)} is not supported: nodeagent manages pod cgroups with the cgroupfs driver only (set cgroupDriver: cgroupfs and configure the runtime with SystemdCgroup = false)`,
      );
    }
    const root = options.cgroupRoot ?? '/';
    if (!root.startsWith('/') || root.split('/').some((p) => p === '.' || p === '..')) {
      throw new InvalidConfigError(
        `cgroupRoot must be an absolute cgroup path without . or .., got ${JSON.stringify(root)}`,
      );
    }
    if (
      options.cpuCFSQuotaPeriodUs !== undefined &&
      !(options.cpuCFSQuotaPeriodUs >= 1000 && options.cpuCFSQuotaPeriodUs <= 1_000_000)
    ) {
      throw new InvalidConfigError(
        `cpuCFSQuotaPeriod must be between 1ms and 1s, got ${options.cpuCFSQuotaPeriodUs}µs`,
      );
    }
    this.options = options;
    this.cgroupRoot = root;
    this.fs = options.fs ?? hostCgroupFileSystem;
    this.logger = (options.logger ?? noopLogger).child({ component: 'pod-container-manager' });
  }

  async cgroupVersion(): Promise<CgroupVersion> {
    return (await this.cgroupManager()).layout.version;
  }

  /** The detected layout of the host's cgroup hierarchies. */
  async cgroupLayout(): Promise<CgroupLayout> {
    return (await this.cgroupManager()).layout;
  }

  qosCgroupName(qos: PodQOSClass): string {
    return qosCgroupName(qos, { cgroupRoot: this.cgroupRoot });
  }

  podCgroupName(pod: k8s.Pod): string {
    uidOf(pod);
    return podCgroupName(pod, { cgroupRoot: this.cgroupRoot });
  }

  ensureQosCgroups(): Promise<void> {
    this.qosEnsured ??= this.createQosCgroups().catch((err: unknown) => {
      this.qosEnsured = undefined;
      throw err;
    });
    return this.qosEnsured;
  }

  async updateQosCgroups(activePods: readonly k8s.Pod[]): Promise<void> {
    await this.ensureQosCgroups();
    const manager = await this.cgroupManager();
    let burstableMilliCPU = 0;
    for (const pod of activePods) {
      if (podQOSOrBestEffort(pod) !== 'Burstable') continue;
      const cpu = podRequests(pod)['cpu'];
      if (cpu) burstableMilliCPU += quantityMilliValue(cpu, 'cpu');
    }
    await manager.update(this.qosCgroupName('Burstable'), {
      cpuShares: milliCPUToShares(burstableMilliCPU),
    });
    await manager.update(this.qosCgroupName('BestEffort'), { cpuShares: minShares });
    this.logger.debug('Updated QoS cgroups', { burstableMilliCPU });
  }

  async destroyQosCgroups(): Promise<boolean> {
    const manager = await this.cgroupManager();
    const burstable = await manager.removeIfEmpty(this.qosCgroupName('Burstable'));
    const besteffort = await manager.removeIfEmpty(this.qosCgroupName('BestEffort'));
    const kubepods =
      burstable && besteffort && (await manager.removeIfEmpty(this.qosCgroupName('Guaranteed')));
    this.qosEnsured = undefined;
    return kubepods;
  }

  async podCgroupExists(pod: k8s.Pod): Promise<boolean> {
    return (await this.cgroupManager()).exists(this.podCgroupName(pod));
  }

  async ensurePodCgroup(pod: k8s.Pod): Promise<string> {
    const name = this.podCgroupName(pod);
    await this.ensureQosCgroups();
    const manager = await this.cgroupManager();
    if (await manager.exists(name)) return name;
    const resources = resourceConfigForPod(pod, {
      ...(this.options.cpuCFSQuota !== undefined
        ? { enforceCPULimits: this.options.cpuCFSQuota }
        : {}),
      cpuPeriodUs: this.options.cpuCFSQuotaPeriodUs ?? quotaPeriodUs,
      ...(this.options.podPidsLimit !== undefined
        ? { podPidsLimit: this.options.podPidsLimit }
        : {}),
    });
    await manager.create(name, resources);
    this.logger.debug('Created pod cgroup', { cgroup: name, ...describe(resources) });
    return name;
  }

  async destroyPodCgroup(podOrUid: k8s.Pod | string): Promise<void> {
    const uid = uidOf(podOrUid);
    const manager = await this.cgroupManager();
    for (const name of this.candidateNames(uid)) await manager.destroy(name);
    this.logger.debug('Removed pod cgroup', { podUid: uid });
  }

  async listPodCgroups(): Promise<string[]> {
    const manager = await this.cgroupManager();
    const uids = new Set<string>();
    for (const qos of qosClasses) {
      for (const child of await manager.children(this.qosCgroupName(qos))) {
        if (child.startsWith(podCgroupNamePrefix) && child.length > podCgroupNamePrefix.length) {
          uids.add(child.slice(podCgroupNamePrefix.length));
        }
      }
    }
    return [...uids].sort();
  }

  async podCgroupPids(podOrUid: k8s.Pod | string): Promise<number[]> {
    const uid = uidOf(podOrUid);
    const manager = await this.cgroupManager();
    const pids = new Set<number>();
    for (const name of this.candidateNames(uid))
      for (const pid of await manager.pids(name)) pids.add(pid);
    return [...pids].sort((a, b) => a - b);
  }

  /** The pod's cgroup name under each QoS cgroup: a pod is found wherever it was put. */
  private candidateNames(uid: string): string[] {
    return qosClasses.map(
      (qos) => `${this.qosCgroupName(qos).replace(/\/$/, '')}/${podCgroupNamePrefix}${uid}`,
    );
  }

  private async createQosCgroups(): Promise<void> {
    const manager = await this.cgroupManager();
    const kubepods = this.qosCgroupName('Guaranteed');
    await manager.create(kubepods);
    // setHugePagesUnbounded: 1<<62 for every page size the kernel offers (none without hugetlb).
    const pageSizes = await manager.hugePageSizes(kubepods);
    const qos: ResourceConfig =
      pageSizes.length > 0
        ? { hugePageLimit: new Map(pageSizes.map((size) => [size, qosHugePageLimitBytes])) }
        : {};
    await manager.create(this.qosCgroupName('Burstable'), qos);
    await manager.create(this.qosCgroupName('BestEffort'), { ...qos, cpuShares: minShares });
    this.logger.debug('Ensured QoS cgroups', { root: kubepods });
  }

  private cgroupManager(): Promise<CgroupfsManager> {
    this.manager ??= detectCgroupLayout(
      this.fs,
      this.options.cgroupMountRoot ?? defaultCgroupMountRoot,
    ).then(
      (layout) => {
        this.logger.info('Detected cgroup layout', {
          version: layout.version,
          hierarchies: layout.hierarchies.map((h) => h.name || '/'),
        });
        return new CgroupfsManager({
          fs: this.fs,
          layout,
          clock: this.options.clock,
          logger: this.logger,
        });
      },
      (err: unknown) => {
        this.manager = undefined;
        throw err;
      },
    );
    return this.manager;
  }
}

function describe(resources: ResourceConfig): Record<string, unknown> {
  return {
    cpuShares: resources.cpuShares,
    cpuQuota: resources.cpuQuota,
    cpuPeriod: resources.cpuPeriod,
    memory: resources.memory,
    pidsLimit: resources.pidsLimit,
  };
}

/** Creates a {@link PodContainerManager} with the cgroupfs driver. @throws InvalidConfigError on a bad configuration. */
export function createPodContainerManager(
  options: PodContainerManagerOptions,
): PodContainerManager {
  return new CgroupfsPodContainerManager(options);
}

/** Options of {@link registerPodContainerManager}: everything but the Clock and Logger, which come from the container. */
export type RegisterPodContainerManagerOptions = Omit<
  PodContainerManagerOptions,
  'clock' | 'logger'
> &
  Partial<Pick<PodContainerManagerOptions, 'clock' | 'logger'>>;

/**
 * Registers one shared {@link PodContainerManager} (token `PodContainerManager`), built
 * on first resolve with the container's `Clock` and, when registered, `Logger`.
 */
export function registerPodContainerManager(
  container: FactoryRegistry,
  options: RegisterPodContainerManagerOptions = {},
): void {
  let instance: PodContainerManager | undefined;
  container.register(PodContainerManager, {
    useFactory: (r) => {
      if (instance) return instance;
      const logger = options.logger ?? resolveOptional(r, Logger);
      instance = createPodContainerManager({
        ...options,
        clock: options.clock ?? r.resolve(Clock),
        ...(logger ? { logger } : {}),
      });
      return instance;
    },
  });
}
