import type { k8s } from '@nodeagent/core';
import { InvalidPodSpecError } from './errors.js';
import {
  addQuantities,
  compareQuantities,
  parseQuantity,
  type ParsedQuantity as Quantity,
} from '@nodeagent/core';

/** A parsed resource list: resource name (`cpu`, `memory`, …) to exact quantity. */
export type ParsedResourceList = Record<string, Quantity>;

/**
 * Path of a container in error messages, in the kubelet's event `fieldPath` syntax:
 * `spec.containers{web}` or `spec.initContainers{setup}`.
 */
export function containerFieldPath(pod: k8s.Pod, container: k8s.Container): string {
  const isApp = (pod.spec?.containers ?? []).some((c) => c === container);
  const isInit =
    !isApp &&
    (pod.spec?.initContainers ?? []).some((c) => c === container || c.name === container.name);
  return `spec.${isInit ? 'initContainers' : 'containers'}{${container.name}}`;
}

function parseList(list: k8s.ResourceList | undefined, field: string): ParsedResourceList {
  const out: ParsedResourceList = {};
  for (const [name, value] of Object.entries(list ?? {})) {
    const q = parseQuantity(value, `${field}.${name}`);
    if (q.numerator < 0n) {
      throw new InvalidPodSpecError(
        `${field}.${name}`,
        `quantity ${JSON.stringify(value)} must be greater than or equal to 0`,
      );
    }
    out[name] = q;
  }
  return out;
}

/** The container's limits, parsed. @throws InvalidPodSpecError on an invalid or negative quantity. */
export function containerLimits(pod: k8s.Pod, container: k8s.Container): ParsedResourceList {
  return parseList(
    container.resources?.limits,
    `${containerFieldPath(pod, container)}.resources.limits`,
  );
}

/**
 * The container's requests, parsed, with every limit that has no request copied into
 * the requests: the API server's defaulting (`SetDefaults_Pod`), which the kubelet
 * also relies on for static pods and repeats itself for CPU shares.
 * @throws InvalidPodSpecError on an invalid or negative quantity.
 */
export function containerRequests(pod: k8s.Pod, container: k8s.Container): ParsedResourceList {
  const requests = parseList(
    container.resources?.requests,
    `${containerFieldPath(pod, container)}.resources.requests`,
  );
  const limits = containerLimits(pod, container);
  for (const [name, q] of Object.entries(limits)) {
    if (!(name in requests)) requests[name] = q;
  }
  return requests;
}

function addInto(target: ParsedResourceList, list: ParsedResourceList): void {
  for (const [name, q] of Object.entries(list)) {
    const have = target[name];
    target[name] = have ? addQuantities(have, q) : q;
  }
}

function maxInto(target: ParsedResourceList, list: ParsedResourceList): void {
  for (const [name, q] of Object.entries(list)) {
    const have = target[name];
    if (!have || compareQuantities(q, have) > 0) target[name] = q;
  }
}

function aggregate(pod: k8s.Pod, of: (c: k8s.Container) => ParsedResourceList): ParsedResourceList {
  const total: ParsedResourceList = {};
  for (const c of pod.spec?.containers ?? []) addInto(total, of(c));
  const sidecars: ParsedResourceList = {};
  const initMax: ParsedResourceList = {};
  for (const c of pod.spec?.initContainers ?? []) {
    const own = of(c);
    if (c.restartPolicy === 'Always') {
      // A sidecar keeps running next to the app containers and the later init containers.
      addInto(total, own);
      addInto(sidecars, own);
      maxInto(initMax, { ...sidecars });
    } else {
      const step: ParsedResourceList = {};
      addInto(step, own);
      addInto(step, sidecars);
      maxInto(initMax, step);
    }
  }
  maxInto(total, initMax);
  return total;
}

/**
 * The pod's effective requests (component-helpers `PodRequests` without overhead): the
 * sum over app containers and sidecars, or the largest init-container step if bigger.
 */
export function podRequests(pod: k8s.Pod): ParsedResourceList {
  return aggregate(pod, (c) => containerRequests(pod, c));
}

/** The pod's effective limits (component-helpers `PodLimits` without overhead), computed like {@link podRequests}. */
export function podLimits(pod: k8s.Pod): ParsedResourceList {
  return aggregate(pod, (c) => containerLimits(pod, c));
}
