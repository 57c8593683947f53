/**
 * Local ephemeral storage isolation (kubelet eviction manager `localStorageEviction`,
 * LocalStorageCapacityIsolation, on by default): a pod whose emptyDir outgrows its
 * `sizeLimit`, whose ephemeral storage outgrows the sum of its containers'
 * `ephemeral-storage` limits, or one of whose containers (logs, plus the writable
 * layer unless images have a filesystem of their own) outgrows its own limit is
 * evicted at once, whatever the node's pressure.
 */
import { parseQuantity, quantityValue, type PodStats, type k8s } from '@nodeagent/core';
import { formatQuantity } from './quantity-format.js';

/** Eviction signals counted in `kubelet_evictions` for these evictions. */
export const LocalStorageSignal = {
  EmptyDirLimit: 'emptydirfs.limit',
  PodLimit: 'ephemeralpodfs.limit',
  ContainerLimit: 'ephemeralcontainerfs.limit',
} as const;
export type LocalStorageSignal = (typeof LocalStorageSignal)[keyof typeof LocalStorageSignal];

/** Why a pod must be evicted for its local storage: the kubelet's message and signal. */
export interface LocalStorageViolation {
  signal: LocalStorageSignal;
  message: string;
}

interface Limit {
  bytes: number;
  /** As apimachinery's `Quantity.String()` prints it. */
  text: string;
}

function limitOf(value: string | number | undefined): Limit | undefined {
  if (value === undefined) return undefined;
  try {
    const q = parseQuantity(value);
    const bytes = quantityValue(q);
    return {
      bytes,
      text: formatQuantity(bytes, q.format === 'BinarySI' ? 'BinarySI' : 'DecimalSI'),
    };
  } catch {
    return undefined; // not a quantity: validation's business, nothing to enforce
  }
}

/**
 * The first local-storage limit `pod` breaks according to `stats`, checked in the
 * kubelet's order (emptyDir sizeLimit, pod total, each container); undefined when
 * none. `dedicatedImageFs`: the writable layers are not on the node filesystem, so
 * only logs count against a container's limit.
 */
export function localStorageViolation(
  pod: k8s.Pod,
  stats: PodStats,
  dedicatedImageFs: boolean,
): LocalStorageViolation | undefined {
  // emptyDirLimitEviction
  const volumeUsed = new Map<string, number>();
  for (const v of stats.volume ?? [])
    if (v.name !== undefined && v.usedBytes !== undefined) volumeUsed.set(v.name, v.usedBytes);
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.emptyDir === undefined) continue;
    const size = limitOf(volume.emptyDir.sizeLimit);
    const used = volumeUsed.get(volume.name);
    if (size !== undefined && size.bytes > 0 && used !== undefined && used > size.bytes)
      return {
        signal: LocalStorageSignal.EmptyDirLimit,
        message: `Usage of EmptyDir volume ${JSON.stringify(volume.name)} exceeds the limit ${JSON.stringify(size.text)}. `,
      };
  }

  // podEphemeralStorageLimitEviction: against the containers' limits added up
  // (the larger of that and the largest init container's, as PodLimits takes it).
  const containerLimit = (c: k8s.Container): Limit | undefined =>
    limitOf(c.resources?.limits?.['ephemeral-storage']);
  const appLimits = (pod.spec?.containers ?? []).map(containerLimit);
  const sidecarLimits = (pod.spec?.initContainers ?? [])
    .filter((c) => c.restartPolicy === 'Always')
    .map(containerLimit);
  const initLimits = (pod.spec?.initContainers ?? [])
    .filter((c) => c.restartPolicy !== 'Always')
    .map(containerLimit);
  const all = [...appLimits, ...sidecarLimits, ...initLimits];
  if (all.some((l) => l !== undefined)) {
    const sum = [...appLimits, ...sidecarLimits].reduce((a, l) => a + (l?.bytes ?? 0), 0);
    const total = Math.max(sum, ...initLimits.map((l) => l?.bytes ?? 0));
    const used = stats['ephemeral-storage']?.usedBytes ?? 0;
    if (used > total)
      return {
        signal: LocalStorageSignal.PodLimit,
        message: `Pod ephemeral local storage usage exceeds the total limit of containers ${formatQuantity(total, 'BinarySI')}. `,
      };
  }

  // containerEphemeralStorageLimitEviction (app containers)
  const limits = new Map<string, Limit>();
  for (const c of pod.spec?.containers ?? []) {
    const l = containerLimit(c);
    if (l !== undefined && l.bytes !== 0) limits.set(c.name, l);
  }
  for (const c of stats.containers) {
    const limit = limits.get(c.name);
    if (limit === undefined) continue;
    const used = (c.logs?.usedBytes ?? 0) + (dedicatedImageFs ? 0 : (c.rootfs?.usedBytes ?? 0));
    if (used > limit.bytes)
      return {
        signal: LocalStorageSignal.ContainerLimit,
        message: `Container ${c.name} exceeded its local ephemeral storage limit ${JSON.stringify(limit.text)}. `,
      };
  }
  return undefined;
}
