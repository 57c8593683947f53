import { parseQuantity, quantityValue, type k8s } from '@nodeagent/core';
import { formatQuantity } from './quantity-format.js';
import type { PodStatsFunc } from './ranking.js';
import {
  signalPrintFormat,
  signalToResource,
  type SignalObservations,
  type StarvedResource,
} from './signals.js';
import { formatThresholdQuantity, type Threshold } from './thresholds.js';

/** The reason of an evicted pod's status and of its event (kubelet `eviction.Reason`). */
export const evictionReason = 'Evicted';

/** Format of an admission rejection under pressure (kubelet `nodeConditionMessageFmt`). */
export function nodeConditionMessage(conditions: readonly string[]): string {
  return `The node had condition: [${conditions.join(' ')}]. `;
}

function requestText(
  container: k8s.Container,
  resource: StarvedResource,
): {
  text: string;
  value: number;
} {
  const raw = container.resources?.requests?.[resource];
  if (raw === undefined) return { text: '0', value: 0 };
  try {
    const q = parseQuantity(raw);
    const value = quantityValue(q);
    return {
      text: formatQuantity(value, q.format === 'BinarySI' ? 'BinarySI' : 'DecimalSI'),
      value,
    };
  } catch {
    return { text: raw, value: 0 };
  }
}

/**
 * The message of an evicted pod, worded exactly as the kubelet's `evictionMessage`
 * (trailing spaces included):
 * `The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. `
 * followed by, for each container using more than it requested (memory: working set;
 * ephemeral-storage: writable layer plus logs),
 * `Container web was using 200Mi, request is 0, has larger consumption of memory. `
 *
 * @param thresholds  the met thresholds; the first one of `resource` gives the quantities.
 */
export function evictionMessage(
  resource: StarvedResource,
  pod: k8s.Pod,
  stats: PodStatsFunc,
  thresholds: readonly Threshold[],
  observations: SignalObservations,
): string {
  let message = `The node was low on resource: ${resource}. `;
  for (const threshold of thresholds) {
    if (signalToResource[threshold.signal] !== resource) continue;
    const observed = observations[threshold.signal];
    if (!observed) continue;
    const quantity = formatThresholdQuantity(threshold.value, observed.capacity);
    const available = formatQuantity(observed.available, signalPrintFormat(threshold.signal));
    message += `Threshold quantity: ${quantity}, available: ${available}. `;
    break;
  }
  const podStats = stats(pod);
  if (!podStats) return message;
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  for (const cs of podStats.containers) {
    const container = containers.find((c) => c.name === cs.name);
    if (!container) continue;
    let usage: number | undefined;
    if (resource === 'ephemeral-storage') {
      if (cs.rootfs?.usedBytes !== undefined && cs.logs?.usedBytes !== undefined) {
        usage = cs.rootfs.usedBytes + cs.logs.usedBytes;
      }
    } else if (resource === 'memory') {
      usage = cs.memory?.workingSetBytes;
    }
    const request = requestText(container, resource);
    if (usage !== undefined && usage > request.value) {
      message += `Container ${container.name} was using ${formatQuantity(usage, 'BinarySI')}, request is ${request.text}, has larger consumption of ${resource}. `;
    }
  }
  return message;
}
