import {
  addQuantities,
  parseQuantity,
  quantityMilliValue,
  quantityValue,
  type k8s,
} from '@nodeagent/core';
import { podRequests, type ParsedResourceList } from '../kuberuntime/resource-lists.js';
import { isStaticPod } from '../pod-phase.js';
import type {
  AdmissionNode,
  PodAdmitAttributes,
  PodAdmitHandler,
  PodAdmitResult,
} from './types.js';

/** The node label holding the OS (`kubernetes.io/os`). */
const osLabel = 'kubernetes.io/os';

/** A failed check: a predicate (`NodeAffinity`, …) or a resource the node lacks. */
export type PredicateFailure =
  | { kind: 'predicate'; name: string; description: string }
  | {
      kind: 'resource';
      resourceName: string;
      /** In the resource's admission unit: millicores for cpu, bytes, a count. */
      requested: number;
      used: number;
      capacity: number;
    };

/** Options of the {@link PredicateAdmitHandler}. */
export interface PredicateAdmitHandlerOptions {
  /**
   * The node as the agent knows it (kubelet `getNodeAnyWay`): the API server's Node
   * when registered, else the node built locally (labels, allocatable). Undefined
   * means unknown and rejects every pod (`InvalidNodeInfo`).
   */
  node: () => AdmissionNode | undefined;
  /** The node's OS (`runtime.GOOS`); default `linux`. */
  os?: string;
  /**
   * Asked when the pod does not fit (kubelet `AdmissionFailureHandler`, the
   * {@link CriticalPodAdmissionHandler}): returns the failures that remain (none admits
   * the pod); a throw refuses it as `UnexpectedAdmissionError`. Default: none.
   */
  admissionFailureHandler?: {
    handleAdmissionFailure(
      pod: k8s.Pod,
      failures: readonly PredicateFailure[],
      activePods: readonly k8s.Pod[],
    ): PredicateFailure[];
  };
}

/**
 * An extended resource (`example.com/gpu`): a qualified name with a domain other than
 * `kubernetes.io` (`v1helper.IsExtendedResourceName`).
 */
export function isExtendedResourceName(name: string): boolean {
  if (!name.includes('/') || name.startsWith('requests.')) return false;
  if (name.startsWith('kubernetes.io/') || /\.kubernetes\.io\//.test(name)) return false;
  return /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(
    name,
  );
}

/** Resources compared besides cpu, memory and ephemeral-storage (scheduler `IsScalarResourceName`). */
function isScalarResourceName(name: string): boolean {
  return (
    isExtendedResourceName(name) ||
    name.startsWith('hugepages-') ||
    name.startsWith('kubernetes.io/') ||
    name.startsWith('attachable-volumes-')
  );
}

/** The pod's requests for admission: containers, init steps and sidecars, plus the pod overhead. */
export function admissionRequests(pod: k8s.Pod): ParsedResourceList {
  const requests = podRequests(pod);
  for (const [name, value] of Object.entries(pod.spec?.overhead ?? {})) {
    const q = parseQuantity(value, `spec.overhead.${name}`);
    const have = requests[name];
    requests[name] = have ? addQuantities(have, q) : q;
  }
  return requests;
}

/** A resource amount in the unit admission compares: millicores for cpu, else the integer value. */
function amount(name: string, list: ParsedResourceList): number {
  const q = list[name];
  if (q === undefined) return 0;
  return name === 'cpu' ? quantityMilliValue(q, name) : quantityValue(q, name);
}

/**
 * What a pod requests of one resource in the admission unit (kubelet
 * `resource.GetResourceRequest`): millicores for cpu, bytes, and 1 of `pods` for
 * every pod. Throws InvalidPodSpecError for a quantity that does not parse.
 */
export function podRequestAmount(pod: k8s.Pod, resource: string): number {
  if (resource === 'pods') return 1;
  return amount(resource, admissionRequests(pod));
}

function parseList(list: k8s.ResourceList | undefined, field: string): ParsedResourceList {
  const out: ParsedResourceList = {};
  for (const [name, value] of Object.entries(list ?? {})) {
    try {
      out[name] = parseQuantity(value, `${field}.${name}`);
    } catch {
      // A node quantity that does not parse counts as none.
    }
  }
  return out;
}

/**
 * The resource fit of the scheduler's `noderesources` plugin as the kubelet runs it
 * (`fitsRequest`): the pod count against `allocatable.pods`, then cpu, memory,
 * ephemeral-storage and scalar resources (hugepages, extended) the pod requests
 * against allocatable minus what the other pods request. Extended resources the node
 * does not advertise at all are ignored (`removeMissingExtendedResources`).
 */
export function insufficientResources(
  pod: k8s.Pod,
  otherPods: readonly k8s.Pod[],
  allocatable: ParsedResourceList,
): PredicateFailure[] {
  const out: PredicateFailure[] = [];
  const allowedPods = amount('pods', allocatable);
  if (otherPods.length + 1 > allowedPods) {
    out.push({
      kind: 'resource',
      resourceName: 'pods',
      requested: 1,
      used: otherPods.length,
      capacity: allowedPods,
    });
  }
  const requests = admissionRequests(pod);
  for (const name of Object.keys(requests)) {
    if (isExtendedResourceName(name) && !(name in allocatable)) delete requests[name];
  }
  const used: ParsedResourceList = {};
  for (const other of otherPods) {
    let theirs: ParsedResourceList;
    try {
      theirs = admissionRequests(other);
    } catch {
      continue; // admitted earlier; a spec that no longer parses counts as nothing
    }
    for (const [name, q] of Object.entries(theirs)) {
      const have = used[name];
      used[name] = have ? addQuantities(have, q) : q;
    }
  }
  const check = (name: string): void => {
    const requested = amount(name, requests);
    if (requested <= 0) return;
    const capacity = amount(name, allocatable);
    const inUse = amount(name, used);
    if (requested > capacity - inUse) {
      out.push({ kind: 'resource', resourceName: name, requested, used: inUse, capacity });
    }
  };
  check('cpu');
  check('memory');
  check('ephemeral-storage');
  for (const name of Object.keys(requests).sort()) if (isScalarResourceName(name)) check(name);
  return out;
}

function matchesRequirement(
  requirement: k8s.NodeSelectorRequirement,
  value: string | undefined,
): boolean {
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1) return false;
      if (!/^[+-]?\d+$/.test(value) || !/^[+-]?\d+$/.test(values[0] ?? '')) return false;
      const have = BigInt(value);
      const want = BigInt(values[0] ?? '0');
      return requirement.operator === 'Gt' ? have > want : have < want;
    }
    default:
      return false;
  }
}

function matchesTerm(term: k8s.NodeSelectorTerm, node: AdmissionNode): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  // An empty term selects nothing (component-helpers nodeSelectorTerm).
  if (expressions.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of expressions) {
    const value = Object.prototype.hasOwnProperty.call(labels, r.key) ? labels[r.key] : undefined;
    if (!matchesRequirement(r, value)) return false;
  }
  for (const r of fields) {
    if (r.key !== 'metadata.name') return false;
    if (r.operator !== 'In' && r.operator !== 'NotIn') return false;
    if (!matchesRequirement(r, node.metadata.name ?? '')) return false;
  }
  return true;
}

/**
 * The pod's required node affinity (`nodeaffinity.GetRequiredNodeAffinity`): every
 * `nodeSelector` label equal, and, when required node affinity is set, at least one of
 * its terms matching the node.
 */
export function matchesNodeAffinity(pod: k8s.Pod, node: AdmissionNode): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) {
    if (labels[k] !== v) return false;
  }
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required === undefined) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => matchesTerm(t, node));
}

interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

function hostPorts(pod: k8s.Pod): HostPort[] {
  const containers = [
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
    ...(pod.spec?.containers ?? []),
  ];
  const out: HostPort[] = [];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (p.hostPort === undefined || p.hostPort <= 0) continue;
      out.push({
        ip: p.hostIP || '0.0.0.0',
        protocol: p.protocol ?? 'TCP',
        port: p.hostPort,
      });
    }
  }
  return out;
}

/**
 * Whether a host port the pod wants is already taken by another pod (scheduler
 * `HostPortInfo.CheckConflict`): same protocol and port, and the same IP or either
 * side on 0.0.0.0.
 */
export function hostPortConflict(pod: k8s.Pod, otherPods: readonly k8s.Pod[]): boolean {
  const wanted = hostPorts(pod);
  if (wanted.length === 0) return false;
  const taken = otherPods.flatMap(hostPorts);
  return wanted.some((w) =>
    taken.some(
      (t) =>
        t.protocol === w.protocol &&
        t.port === w.port &&
        (t.ip === w.ip || t.ip === '0.0.0.0' || w.ip === '0.0.0.0'),
    ),
  );
}

/** Whether a toleration tolerates a taint (core/v1 `Toleration.ToleratesTaint`). */
export function toleratesTaint(
  toleration: k8s.Toleration,
  taint: { key: string; value?: string; effect: string },
): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? 'Equal') {
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/**
 * The kubelet's general filter (`generalFilter`): node resources, node name, host
 * ports, required node affinity, and — for pods that are not static — NoExecute taints
 * the pod does not tolerate. Returns every failure, in the kubelet's order.
 * @throws InvalidPodSpecError when a quantity of the pod does not parse.
 */
export function generalFilter(
  pod: k8s.Pod,
  otherPods: readonly k8s.Pod[],
  node: AdmissionNode,
): PredicateFailure[] {
  const failures: PredicateFailure[] = [];
  const allocatable = parseList(node.status?.allocatable, 'node.status.allocatable');
  failures.push(...insufficientResources(pod, otherPods, allocatable));
  if (!matchesNodeAffinity(pod, node)) {
    failures.push({
      kind: 'predicate',
      name: 'NodeAffinity',
      description: "node(s) didn't match Pod's node affinity/selector",
    });
  }
  const nodeName = pod.spec?.nodeName;
  if (nodeName && nodeName !== node.metadata.name) {
    failures.push({
      kind: 'predicate',
      name: 'NodeName',
      description: "node(s) didn't match the requested node name",
    });
  }
  if (hostPortConflict(pod, otherPods)) {
    failures.push({
      kind: 'predicate',
      name: 'NodePorts',
      description: "node(s) didn't have free ports for the requested pod ports",
    });
  }
  if (!isStaticPod(pod)) {
    const untolerated = (node.spec?.taints ?? []).some(
      (taint) =>
        taint.effect === 'NoExecute' &&
        !(pod.spec?.tolerations ?? []).some((t) => toleratesTaint(t, taint)),
    );
    if (untolerated) {
      failures.push({
        kind: 'predicate',
        name: 'TaintToleration',
        description: "node(s) had taints that the pod didn't tolerate",
      });
    }
  }
  return failures;
}

/** The message of a failure (`InsufficientResourceError.Error`, `PredicateFailureError.Error`). */
export function failureMessage(f: PredicateFailure): string {
  return f.kind === 'resource'
    ? `Node didn't have enough resource: ${f.resourceName}, requested: ${f.requested}, used: ${f.used}, capacity: ${f.capacity}`
    : `Predicate ${f.name} failed: ${f.description}`;
}

/**
 * The kubelet's predicate admission (`predicateAdmitHandler`): refuses a pod whose
 * `kubernetes.io/os` label or `spec.os` names another OS (`PodOSSelectorNodeLabelDoesNotMatch`,
 * `PodOSNotSupported`), then runs the {@link generalFilter} and reports its first
 * failure — `OutOf<resource>` for a resource (`OutOfcpu`, `OutOfmemory`, `OutOfpods`),
 * else the predicate's name (`NodeAffinity`, `NodeName`, `NodePorts`, `TaintToleration`).
 * A quantity that does not parse refuses the pod (`UnexpectedAdmissionError`) rather
 * than letting it run unaccounted.
 */
export class PredicateAdmitHandler implements PodAdmitHandler {
  readonly name = 'predicate';
  private readonly os: string;

  constructor(private readonly options: PredicateAdmitHandlerOptions) {
    this.os = options.os ?? 'linux';
  }

  admit({ pod, otherPods }: PodAdmitAttributes): PodAdmitResult {
    const node = this.options.node();
    if (node === undefined) {
      return { admit: false, reason: 'InvalidNodeInfo', message: 'Kubelet cannot get node info.' };
    }
    // The kubelet compares with its own OS whatever the node label says.
    const podOs = pod.metadata?.labels?.[osLabel];
    if (podOs !== undefined && podOs !== this.os) {
      return {
        admit: false,
        reason: 'PodOSSelectorNodeLabelDoesNotMatch',
        message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label",
      };
    }
    if (pod.spec?.os !== undefined && pod.spec.os.name !== this.os) {
      return {
        admit: false,
        reason: 'PodOSNotSupported',
        message: "Failed to admit pod as the OS field doesn't match node OS",
      };
    }
    let failures: PredicateFailure[];
    try {
      failures = generalFilter(pod, otherPods, node);
    } catch (err) {
      return {
        admit: false,
        reason: 'UnexpectedAdmissionError',
        message: `Cannot account for the pod's resources: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    const failureHandler = this.options.admissionFailureHandler;
    if (failures.length > 0 && failureHandler !== undefined) {
      // kubelet predicateAdmitHandler: the failure handler may recover (critical pods).
      try {
        failures = failureHandler.handleAdmissionFailure(pod, failures, otherPods);
      } catch (err) {
        return {
          admit: false,
          reason: 'UnexpectedAdmissionError',
          message: `Unexpected error while attempting to recover from admission failure: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
    }
    const first = failures[0];
    if (first === undefined) return { admit: true };
    return {
      admit: false,
      reason: first.kind === 'resource' ? `OutOf${first.resourceName}` : first.name,
      message: failureMessage(first),
    };
  }
}
