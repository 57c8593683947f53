import { InvalidArgumentError, type k8s } from '@nodeagent/core';
import { getPodQOS, type PodQOSClass } from './qos.js';

/** The cgroup driver: `cgroupfs` (plain paths) or `systemd` (`.slice` units). */
export type CgroupDriver = 'cgroupfs' | 'systemd';

/** Where the kubelet's cgroup hierarchy lives. */
export interface CgroupNameOptions {
  /**
   * The kubelet's `--cgroup-root`: `/` by default. With the systemd driver it is a
   * slice path such as `/nodeagent.slice` (or `/`).
   */
  cgroupRoot?: string;
  /** The cgroup driver; `cgroupfs` by default. */
  driver?: CgroupDriver;
}

/** Name of the node-level cgroup all pods live under (kubelet `defaultNodeAllocatableCgroupName`). */
export const kubepodsCgroupName = 'kubepods';

/** Minimum CPU shares (kernel minimum; kubelet `MinShares`). */
export const minShares = 2;
/** Maximum CPU shares (kubelet `MaxShares`). */
export const maxShares = 262144;
/** CPU shares per core (kubelet `SharesPerCPU`). */
export const sharesPerCPU = 1024;
/** Default CFS period in microseconds, 100 ms (kubelet `QuotaPeriod`). */
export const quotaPeriodUs = 100_000;
/** Minimum CFS quota in microseconds, 1 ms (kubelet `MinQuotaPeriod`). */
export const minQuotaPeriodUs = 1_000;

/**
 * CPU shares for a CPU request in millicores (kubelet `cm.MilliCPUToShares`): 1024 per
 * core, at least 2 (also for no request), at most 262144.
 */
export function milliCPUToShares(milliCPU: number): number {
  if (milliCPU === 0) return minShares;
  const shares = Math.trunc((milliCPU * sharesPerCPU) / 1000);
  if (shares < minShares) return minShares;
  if (shares > maxShares) return maxShares;
  return shares;
}

/**
 * CFS quota in microseconds per `periodUs` for a CPU limit in millicores (kubelet
 * `milliCPUToQuota`): 0 (no quota) without a limit, else `milliCPU·period/1000` but at
 * least 1000 µs.
 */
export function milliCPUToQuota(milliCPU: number, periodUs: number = quotaPeriodUs): number {
  if (milliCPU === 0) return 0;
  const quota = Math.trunc((milliCPU * periodUs) / 1000);
  return quota < minQuotaPeriodUs ? minQuotaPeriodUs : quota;
}

/** Components of the cgroup root (kubelet `CgroupName`), from the configured root path. */
function rootComponents(options: CgroupNameOptions): string[] {
  const root = options.cgroupRoot ?? '/';
  if (!root.startsWith('/')) {
    throw new InvalidArgumentError(
      `cgroupRoot must be an absolute path, got ${JSON.stringify(root)}`,
    );
  }
  if ((options.driver ?? 'cgroupfs') === 'cgroupfs') return root.split('/').filter((p) => p !== '');
  // systemd (ParseSystemdToCgroupName): the last slice names the whole path.
  const base = root
    .split('/')
    .filter((p) => p !== '')
    .pop();
  if (base === undefined) return [];
  if (!base.endsWith('.slice')) {
    throw new InvalidArgumentError(
      `with the systemd cgroup driver cgroupRoot must be a .slice, got ${JSON.stringify(root)}`,
    );
  }
  return base
    .slice(0, -'.slice'.length)
    .split('-')
    .map((p) => p.replaceAll('_', '-'));
}

/** Renders cgroup name components in the driver's literal form (`CgroupName.ToCgroupfs` / `ToSystemd`). */
function render(components: string[], driver: CgroupDriver): string {
  if (driver === 'cgroupfs') return '/' + components.join('/');
  if (components.length === 0) return '/';
  const escaped = components.map((p) => p.replaceAll('-', '_'));
  // cgroupsystemd.ExpandSlice: a-b-c.slice → /a.slice/a-b.slice/a-b-c.slice
  let path = '';
  for (let i = 1; i <= escaped.length; i++) path += '/' + escaped.slice(0, i).join('-') + '.slice';
  return path;
}

function qosComponents(qos: PodQOSClass): string[] {
  switch (qos) {
    case 'Guaranteed':
      return [kubepodsCgroupName];
    case 'Burstable':
      return [kubepodsCgroupName, 'burstable'];
    case 'BestEffort':
      return [kubepodsCgroupName, 'besteffort'];
  }
}

/**
 * The cgroup of a QoS class (kubelet `qosContainersInfo`): `<root>/kubepods` for
 * Guaranteed, `<root>/kubepods/burstable`, `<root>/kubepods/besteffort`; with systemd
 * e.g. `/kubepods.slice/kubepods-burstable.slice`.
 */
export function qosCgroupName(qos: PodQOSClass, options: CgroupNameOptions = {}): string {
  const driver = options.driver ?? 'cgroupfs';
  return render([...rootComponents(options), ...qosComponents(qos)], driver);
}

/**
 * The pod's cgroup, passed to the runtime as the sandbox's `cgroupParent` (kubelet
 * `GetPodContainerName`): `pod<uid>` under the pod's QoS cgroup — `/kubepods/pod<uid>`
 * (Guaranteed), `/kubepods/burstable/pod<uid>`, `/kubepods/besteffort/pod<uid>` under
 * `cgroupRoot` with cgroupfs; with systemd the expanded slice path whose last element
 * is e.g. `kubepods-burstable-pod<uid with - as _>.slice`.
 *
 * @throws InvalidArgumentError when the pod has no UID or the root is malformed.
 */
export function podCgroupName(pod: k8s.Pod, options: CgroupNameOptions = {}): string {
  const uid = pod.metadata?.uid;
  if (!uid) throw new InvalidArgumentError('pod has no metadata.uid; cannot name its cgroup');
  const driver = options.driver ?? 'cgroupfs';
  return render(
    [...rootComponents(options), ...qosComponents(getPodQOS(pod)), `pod${uid}`],
    driver,
  );
}
