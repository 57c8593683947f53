import {
  addQuantities,
  parseQuantity,
  zeroQuantity,
  type NodePressure,
  type ParsedQuantity,
  type cri,
  type k8s,
} from '@nodeagent/core';
import type { MachineInfo } from './machine-info.js';
import { aggregateMessage } from './node-runtime-state.js';
import { formatBinaryBytes, formatDecimalMilli, subtractClamped } from './node-quantity.js';
import { formatTime } from './node-api.js';
import type {
  ContainerImage,
  NodeAddress,
  NodeCondition,
  NodeStatus,
  NodeSystemInfo,
} from './node-types.js';

/*
 * The kubelet's node status setters (pkg/kubelet/nodestatus/setters.go) as pure
 * functions: each takes the status the API server has and what the agent knows now,
 * and returns the new value of its part.
 */

/** Kubelet `nodestatus.MaxNamesPerImageInNodeStatus`: names reported per image. */
export const maxNamesPerImageInNodeStatus = 5;

/** Kubelet default hard eviction thresholds (`evictionHard`). */
export const defaultEvictionHard: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
};

/** `status.addresses`: InternalIP (node IP) and Hostname (kubelet `NodeAddress` setter without a cloud provider). */
export function nodeAddresses(nodeIp: string | undefined, hostname: string): NodeAddress[] {
  const out: NodeAddress[] = [];
  if (nodeIp) out.push({ type: 'InternalIP', address: nodeIp });
  out.push({ type: 'Hostname', address: hostname });
  return out;
}

/** The `hugepages-<size>` resource name for a page size (`hugepages-2Mi`, `hugepages-1Gi`). */
export function hugePageResourceName(pageSizeBytes: number): string {
  return `hugepages-${formatBinaryBytes(BigInt(pageSizeBytes))}`;
}

/**
 * `status.capacity` (kubelet `MachineInfo` setter + cAdvisor `CapacityFromMachineInfo`):
 * cpu (cores), memory (bytes), hugepages-*, pods (`maxPods`, or `podsPerCore × cores`
 * when smaller) and ephemeral-storage (root filesystem size). Resources others
 * advertised (extended resources) are kept.
 */
export function nodeCapacity(
  original: k8s.ResourceList | undefined,
  machine: MachineInfo | undefined,
  maxPods: number,
  podsPerCore = 0,
): k8s.ResourceList {
  const capacity: k8s.ResourceList = { ...original };
  if (!machine) {
    capacity.cpu = '0';
    capacity.memory = '0';
    capacity.pods = String(maxPods);
    return capacity;
  }
  capacity.cpu = formatDecimalMilli(BigInt(machine.numCores) * 1000n);
  capacity.memory = formatBinaryBytes(BigInt(machine.memoryCapacityBytes));
  for (const hp of machine.hugePages) {
    capacity[hugePageResourceName(hp.pageSizeBytes)] = formatBinaryBytes(
      BigInt(hp.pageSizeBytes) * BigInt(hp.count),
    );
  }
  const pods = podsPerCore > 0 ? Math.min(machine.numCores * podsPerCore, maxPods) : maxPods;
  capacity.pods = String(pods);
  capacity['ephemeral-storage'] = formatBinaryBytes(BigInt(machine.rootFsCapacityBytes));
  return capacity;
}

function parseReserved(list: k8s.ResourceList | undefined, name: string): ParsedQuantity {
  const v = list?.[name];
  return v === undefined ? zeroQuantity() : parseQuantity(v, name);
}

/**
 * The part of a hard eviction threshold that node allocatable reserves (kubelet
 * `hardEvictionReservation`): a quantity, or a percentage of capacity computed as
 * `int64(float64(capacity) * float64(float32(percent)))` like the kubelet.
 */
function evictionReservation(
  threshold: string | undefined,
  capacity: string | undefined,
): ParsedQuantity {
  if (threshold === undefined || capacity === undefined) return zeroQuantity();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(threshold.trim());
  if (pct?.[1] !== undefined) {
    const cap = parseQuantity(capacity);
    const capValue = Number(cap.numerator / cap.denominator);
    const fraction = Math.fround(Number(pct[1]) / 100);
    return {
      numerator: BigInt(Math.floor(capValue * fraction)),
      denominator: 1n,
      format: 'BinarySI',
    };
  }
  return parseQuantity(threshold, 'evictionHard');
}

/**
 * `status.allocatable` (kubelet `MachineInfo` setter with
 * `GetNodeAllocatableReservation`): for every capacity resource, capacity −
 * (kubeReserved + systemReserved + hard eviction reservation), clamped at zero; then
 * every huge page capacity is taken from allocatable memory.
 */
export function nodeAllocatable(
  capacity: k8s.ResourceList,
  kubeReserved: k8s.ResourceList | undefined,
  systemReserved: k8s.ResourceList | undefined,
  evictionHard: Readonly<Record<string, string>>,
): k8s.ResourceList {
  const eviction: Record<string, ParsedQuantity> = {
    memory: evictionReservation(evictionHard['memory.available'], capacity.memory),
    'ephemeral-storage': evictionReservation(
      evictionHard['nodefs.available'],
      capacity['ephemeral-storage'],
    ),
  };
  const allocatable: k8s.ResourceList = {};
  for (const [name, cap] of Object.entries(capacity)) {
    let reservation = addQuantities(
      parseReserved(systemReserved, name),
      parseReserved(kubeReserved, name),
    );
    const ev = eviction[name];
    if (ev) reservation = addQuantities(reservation, ev);
    allocatable[name] = subtractClamped(cap, reservation);
  }
  for (const [name, cap] of Object.entries(capacity)) {
    if (!name.startsWith('hugepages-') || allocatable.memory === undefined) continue;
    allocatable.memory = subtractClamped(allocatable.memory, parseQuantity(cap));
  }
  return allocatable;
}

/**
 * `status.images` (kubelet `Images` setter): largest first (ties by ID, descending, as
 * the kubelet's `ByImageSize`), at most `maxImages` (-1: all), each with up to 5
 * names — repo digests, then repo tags.
 */
export function nodeImages(images: readonly cri.Image[], maxImages: number): ContainerImage[] {
  const sorted = [...images].sort((a, b) =>
    a.size === b.size ? (a.id > b.id ? -1 : a.id < b.id ? 1 : 0) : b.size - a.size,
  );
  const kept = maxImages > -1 ? sorted.slice(0, maxImages) : sorted;
  return kept.map((img) => ({
    names: [...img.repoDigests, ...img.repoTags].slice(0, maxNamesPerImageInNodeStatus),
    sizeBytes: img.size,
  }));
}

/** What the agent knows for `status.nodeInfo`. */
export interface NodeInfoInputs {
  machine: MachineInfo | undefined;
  /** `<runtime name>://<runtime version>`. */
  containerRuntimeVersion: string;
  kubeletVersion: string;
}

/** `status.nodeInfo` (kubelet `MachineInfo`, `VersionInfo` and `GoRuntime` setters); other fields are kept. */
export function nodeSystemInfo(
  original: NodeSystemInfo | undefined,
  inputs: NodeInfoInputs,
): NodeSystemInfo {
  const m = inputs.machine;
  return {
    ...original,
    machineID: m?.machineId ?? original?.machineID ?? '',
    systemUUID: m?.systemUuid ?? original?.systemUUID ?? '',
    bootID: m?.bootId ?? original?.bootID ?? '',
    kernelVersion: m?.kernelVersion ?? original?.kernelVersion ?? '',
    osImage: m?.osImage ?? original?.osImage ?? '',
    containerRuntimeVersion: inputs.containerRuntimeVersion,
    kubeletVersion: inputs.kubeletVersion,
    operatingSystem: m?.operatingSystem ?? original?.operatingSystem ?? '',
    architecture: m?.architecture ?? original?.architecture ?? '',
  };
}

interface PressureText {
  type: string;
  trueReason: string;
  trueMessage: string;
  falseReason: string;
  falseMessage: string;
}

const pressureConditions: Readonly<Record<keyof NodePressure, PressureText>> = {
  memory: {
    type: 'MemoryPressure',
    trueReason: 'KubeletHasInsufficientMemory',
    trueMessage: 'kubelet has insufficient memory available',
    falseReason: 'KubeletHasSufficientMemory',
    falseMessage: 'kubelet has sufficient memory available',
  },
  disk: {
    type: 'DiskPressure',
    trueReason: 'KubeletHasDiskPressure',
    trueMessage: 'kubelet has disk pressure',
    falseReason: 'KubeletHasNoDiskPressure',
    falseMessage: 'kubelet has no disk pressure',
  },
  pid: {
    type: 'PIDPressure',
    trueReason: 'KubeletHasInsufficientPID',
    trueMessage: 'kubelet has insufficient PID available',
    falseReason: 'KubeletHasSufficientPID',
    falseMessage: 'kubelet has sufficient PID available',
  },
};

/** Resources the Ready condition requires in capacity (kubelet `ReadyCondition`). */
const requiredCapacities = ['cpu', 'memory', 'pods', 'ephemeral-storage'];

/** What the agent knows for the node conditions. */
export interface NodeConditionInputs {
  nowMs: number;
  /** The runtime's problems (see `NodeRuntimeState.errors`); empty when healthy. */
  runtimeErrors: readonly string[];
  pressure: NodePressure;
  capacity: k8s.ResourceList;
}

/**
 * `status.conditions` (kubelet `MemoryPressureCondition`, `DiskPressureCondition`,
 * `PIDPressureCondition`, `ReadyCondition`): every condition gets `lastHeartbeatTime`
 * now; `lastTransitionTime` moves only when the status changes; conditions set by
 * others keep their place; new ones are appended in this order, Ready last.
 */
export function nodeConditions(
  original: readonly NodeCondition[] | undefined,
  inputs: NodeConditionInputs,
): NodeCondition[] {
  const now = formatTime(inputs.nowMs);
  const conditions = (original ?? []).map((c) => ({ ...c }));
  const upsert = (type: string, next: (current: NodeCondition) => NodeCondition): void => {
    const i = conditions.findIndex((c) => c.type === type);
    const current = i >= 0 ? conditions[i] : undefined;
    const updated = next(current ?? { type, status: 'Unknown' });
    if (current === undefined) conditions.push(updated);
    else conditions[i] = updated;
  };
  for (const key of ['memory', 'disk', 'pid'] as const) {
    const text = pressureConditions[key];
    const pressured = inputs.pressure[key];
    upsert(text.type, (c) => {
      const status = pressured ? 'True' : 'False';
      if (c.status === status) return { ...c, lastHeartbeatTime: now };
      return {
        type: text.type,
        status,
        lastHeartbeatTime: now,
        lastTransitionTime: now,
        reason: pressured ? text.trueReason : text.falseReason,
        message: pressured ? text.trueMessage : text.falseMessage,
      };
    });
  }
  const errors = [...inputs.runtimeErrors];
  const missing = requiredCapacities.filter((r) => inputs.capacity[r] === undefined);
  if (missing.length > 0) errors.push(`Missing node capacity for resources: ${missing.join(', ')}`);
  const ready = errors.length === 0;
  upsert('Ready', (c) => {
    const status = ready ? 'True' : 'False';
    return {
      type: 'Ready',
      status,
      lastHeartbeatTime: now,
      lastTransitionTime: c.status === status && c.lastTransitionTime ? c.lastTransitionTime : now,
      reason: ready ? 'KubeletReady' : 'KubeletNotReady',
      message: ready ? 'kubelet is posting ready status' : aggregateMessage(errors),
    };
  });
  return conditions;
}

/** Everything {@link buildNodeStatus} needs. */
export interface NodeStatusInputs extends NodeInfoInputs {
  nowMs: number;
  hostname: string;
  nodeIp: string | undefined;
  maxPods: number;
  podsPerCore: number;
  kubeReserved: k8s.ResourceList | undefined;
  systemReserved: k8s.ResourceList | undefined;
  evictionHard: Readonly<Record<string, string>>;
  kubeletPort: number;
  /** Images already converted (undefined: listing them failed, report none like the kubelet). */
  images: ContainerImage[] | undefined;
  runtimeErrors: readonly string[];
  pressure: NodePressure;
}

/** The node's new status from the one the API server has (kubelet `setNodeStatus`). */
export function buildNodeStatus(
  original: NodeStatus | undefined,
  inputs: NodeStatusInputs,
): NodeStatus {
  const capacity = nodeCapacity(
    original?.capacity,
    inputs.machine,
    inputs.maxPods,
    inputs.podsPerCore,
  );
  return {
    ...original,
    capacity,
    allocatable: nodeAllocatable(
      capacity,
      inputs.kubeReserved,
      inputs.systemReserved,
      inputs.evictionHard,
    ),
    conditions: nodeConditions(original?.conditions, {
      nowMs: inputs.nowMs,
      runtimeErrors: inputs.runtimeErrors,
      pressure: inputs.pressure,
      capacity,
    }),
    addresses: nodeAddresses(inputs.nodeIp, inputs.hostname),
    daemonEndpoints: { kubeletEndpoint: { Port: inputs.kubeletPort } },
    nodeInfo: nodeSystemInfo(original?.nodeInfo, inputs),
    images: inputs.images ?? [],
  };
}
