import type { Summary } from '@nodeagent/core';
import type { QuantityPrintFormat } from './quantity-format.js';

/**
 * The eviction signals nodeagent supports (kubelet `evictionapi.Signal`, Linux).
 * `allocatableMemory.available`, `containerfs.*` and `swap.available` are not
 * supported: nodeagent has no allocatable cgroup signal and no split container fs.
 */
export const EvictionSignal = {
  /** Node memory capacity minus working set, bytes. */
  MemoryAvailable: 'memory.available',
  /** Available bytes of the node filesystem (the agent's root directory). */
  NodeFsAvailable: 'nodefs.available',
  /** Free inodes of the node filesystem. */
  NodeFsInodesFree: 'nodefs.inodesFree',
  /** Available bytes of the image filesystem (the runtime's). */
  ImageFsAvailable: 'imagefs.available',
  /** Free inodes of the image filesystem. */
  ImageFsInodesFree: 'imagefs.inodesFree',
  /** The OS task limit minus the current task count. */
  PidAvailable: 'pid.available',
} as const;
export type EvictionSignal = (typeof EvictionSignal)[keyof typeof EvictionSignal];

/** Every supported signal, in the order the kubelet documents them. */
export const evictionSignals: readonly EvictionSignal[] = Object.values(EvictionSignal);

/** Whether `name` is a supported eviction signal. */
export function isEvictionSignal(name: string): name is EvictionSignal {
  return (evictionSignals as readonly string[]).includes(name);
}

/** The resource a signal starves (kubelet `signalToResource`): named in eviction messages. */
export type StarvedResource = 'memory' | 'ephemeral-storage' | 'inodes' | 'pids';

/** A node condition the eviction manager reports (kubelet `signalToNodeCondition`). */
export type PressureCondition = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';

/** Kubelet `signalToResource`. */
export const signalToResource: Readonly<Record<EvictionSignal, StarvedResource>> = {
  'memory.available': 'memory',
  'nodefs.available': 'ephemeral-storage',
  'nodefs.inodesFree': 'inodes',
  'imagefs.available': 'ephemeral-storage',
  'imagefs.inodesFree': 'inodes',
  'pid.available': 'pids',
};

/** Kubelet `signalToNodeCondition`. */
export const signalToNodeCondition: Readonly<Record<EvictionSignal, PressureCondition>> = {
  'memory.available': 'MemoryPressure',
  'nodefs.available': 'DiskPressure',
  'nodefs.inodesFree': 'DiskPressure',
  'imagefs.available': 'DiskPressure',
  'imagefs.inodesFree': 'DiskPressure',
  'pid.available': 'PIDPressure',
};

/** How the amounts of a signal print: bytes in binary SI, inodes and PIDs in decimal SI. */
export function signalPrintFormat(signal: EvictionSignal): QuantityPrintFormat {
  return signalToResource[signal] === 'memory' || signalToResource[signal] === 'ephemeral-storage'
    ? 'BinarySI'
    : 'DecimalSI';
}

/** One observed signal (kubelet `signalObservation`). */
export interface SignalObservation {
  /** What is available now (bytes, inodes or PIDs). */
  available: number;
  /** The total the signal is measured against (for percentage thresholds). */
  capacity: number;
  /** When the underlying stats were read (`metav1.Time` string), when known. */
  time?: string;
}

/** Observations by signal; a signal without the stats it needs is absent. */
export type SignalObservations = Partial<Record<EvictionSignal, SignalObservation>>;

function observation(
  available: number | undefined,
  capacity: number | undefined,
  time: string | undefined,
): SignalObservation | undefined {
  if (available === undefined || capacity === undefined) return undefined;
  return time === undefined ? { available, capacity } : { available, capacity, time };
}

/**
 * Derives the signal observations from a `/stats/summary` document (kubelet
 * `makeSignalObservations`):
 * - `memory.available`: node `memory.availableBytes`, capacity `availableBytes + workingSetBytes`;
 * - `nodefs.*`: node `fs` available/capacity bytes and inodesFree/inodes;
 * - `imagefs.*`: `runtime.imageFs` likewise;
 * - `pid.available`: `rlimit.maxpid − rlimit.curproc`, capacity `maxpid`.
 */
export function makeSignalObservations(summary: Summary): SignalObservations {
  const result: SignalObservations = {};
  const set = (signal: EvictionSignal, obs: SignalObservation | undefined): void => {
    if (obs) result[signal] = obs;
  };
  const node = summary.node;
  const memory = node.memory;
  if (memory?.availableBytes !== undefined && memory.workingSetBytes !== undefined) {
    set(
      EvictionSignal.MemoryAvailable,
      observation(
        memory.availableBytes,
        memory.availableBytes + memory.workingSetBytes,
        memory.time,
      ),
    );
  }
  const nodeFs = node.fs;
  if (nodeFs) {
    set(
      EvictionSignal.NodeFsAvailable,
      observation(nodeFs.availableBytes, nodeFs.capacityBytes, nodeFs.time),
    );
    set(
      EvictionSignal.NodeFsInodesFree,
      observation(nodeFs.inodesFree, nodeFs.inodes, nodeFs.time),
    );
  }
  const imageFs = node.runtime?.imageFs;
  if (imageFs) {
    set(
      EvictionSignal.ImageFsAvailable,
      observation(imageFs.availableBytes, imageFs.capacityBytes, imageFs.time),
    );
    set(
      EvictionSignal.ImageFsInodesFree,
      observation(imageFs.inodesFree, imageFs.inodes, imageFs.time),
    );
  }
  const rlimit = node.rlimit;
  if (rlimit?.maxpid !== undefined && rlimit.curproc !== undefined) {
    set(
      EvictionSignal.PidAvailable,
      observation(rlimit.maxpid - rlimit.curproc, rlimit.maxpid, rlimit.time),
    );
  }
  return result;
}
