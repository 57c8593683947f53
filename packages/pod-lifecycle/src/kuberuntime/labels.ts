import type { k8s } from '@nodeagent/core';
import { hashContainer } from './hash.js';

/** Sandbox and container label: pod name (kubelet `types.KubernetesPodNameLabel`). */
export const podNameLabel = 'io.kubernetes.pod.name';
/** Sandbox and container label: pod namespace. */
export const podNamespaceLabel = 'io.kubernetes.pod.namespace';
/** Sandbox and container label: pod UID; runtime tools and adoption find pods by it. */
export const podUidLabel = 'io.kubernetes.pod.uid';
/** Container label: the container's name in the pod spec. */
export const containerNameLabel = 'io.kubernetes.container.name';

/** Container annotation: {@link hashContainer} of the spec the container was created from. */
export const containerHashAnnotation = 'io.kubernetes.container.hash';
/** Container annotation: restart count (= CRI metadata attempt). */
export const containerRestartCountAnnotation = 'io.kubernetes.container.restartCount';
/** Container annotation: `terminationMessagePath`. */
export const containerTerminationMessagePathAnnotation =
  'io.kubernetes.container.terminationMessagePath';
/** Container annotation: `terminationMessagePolicy`. */
export const containerTerminationMessagePolicyAnnotation =
  'io.kubernetes.container.terminationMessagePolicy';
/** Container annotation: the preStop handler as JSON, so it can run after an agent restart. */
export const containerPreStopHandlerAnnotation = 'io.kubernetes.container.preStopHandler';
/** Container annotation: the container's ports as JSON. */
export const containerPortsAnnotation = 'io.kubernetes.container.ports';
/** Container annotation: `init` or `container`. */
export const containerTypeAnnotation = 'io.kubernetes.container.type';
/** Container annotation: pod `terminationGracePeriodSeconds`. */
export const podTerminationGracePeriodAnnotation = 'io.kubernetes.pod.terminationGracePeriod';
/** Container annotation: pod `metadata.deletionGracePeriodSeconds`. */
export const podDeletionGracePeriodAnnotation = 'io.kubernetes.pod.deletionGracePeriod';

/** Default `terminationMessagePath` (API defaulting). */
export const defaultTerminationMessagePath = '/dev/termination-log';

/** Sandbox labels (kubelet `newPodLabels`): the pod's labels plus pod name, namespace and UID. */
export function newPodLabels(pod: k8s.Pod): Record<string, string> {
  return {
    ...(pod.metadata?.labels ?? {}),
    [podNameLabel]: pod.metadata?.name ?? '',
    [podNamespaceLabel]: pod.metadata?.namespace ?? '',
    [podUidLabel]: pod.metadata?.uid ?? '',
  };
}

/** Sandbox annotations (kubelet `newPodAnnotations`): the pod's annotations. */
export function newPodAnnotations(pod: k8s.Pod): Record<string, string> {
  return { ...(pod.metadata?.annotations ?? {}) };
}

/** Container labels (kubelet `newContainerLabels`): pod name, namespace, UID and container name. */
export function newContainerLabels(container: k8s.Container, pod: k8s.Pod): Record<string, string> {
  return {
    [podNameLabel]: pod.metadata?.name ?? '',
    [podNamespaceLabel]: pod.metadata?.namespace ?? '',
    [podUidLabel]: pod.metadata?.uid ?? '',
    [containerNameLabel]: container.name,
  };
}

/** A container port in the JSON form the kubelet writes (Go field order, `protocol` defaulted). */
function portJson(p: k8s.ContainerPort): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.name) out['name'] = p.name;
  if (p.hostPort) out['hostPort'] = p.hostPort;
  out['containerPort'] = p.containerPort;
  out['protocol'] = p.protocol ?? 'TCP';
  if (p.hostIP) out['hostIP'] = p.hostIP;
  return out;
}

/**
 * Container annotations (kubelet `newContainerAnnotations`): hash, restart count,
 * termination message path and policy (defaulted), container type, pod grace periods,
 * preStop handler and ports as JSON.
 */
export function newContainerAnnotations(
  container: k8s.Container,
  pod: k8s.Pod,
  restartCount: number,
): Record<string, string> {
  const annotations: Record<string, string> = {
    [containerHashAnnotation]: hashContainer(container),
    [containerRestartCountAnnotation]: String(restartCount),
    [containerTerminationMessagePathAnnotation]:
      container.terminationMessagePath ?? defaultTerminationMessagePath,
    [containerTerminationMessagePolicyAnnotation]: container.terminationMessagePolicy ?? 'File',
  };
  const isInit = (pod.spec?.initContainers ?? []).some((c) => c.name === container.name);
  const isApp = (pod.spec?.containers ?? []).some((c) => c.name === container.name);
  if (isInit) annotations[containerTypeAnnotation] = 'init';
  else if (isApp) annotations[containerTypeAnnotation] = 'container';
  if (pod.metadata?.deletionGracePeriodSeconds !== undefined) {
    annotations[podDeletionGracePeriodAnnotation] = String(pod.metadata.deletionGracePeriodSeconds);
  }
  if (pod.spec?.terminationGracePeriodSeconds !== undefined) {
    annotations[podTerminationGracePeriodAnnotation] = String(
      pod.spec.terminationGracePeriodSeconds,
    );
  }
  if (container.lifecycle?.preStop) {
    annotations[containerPreStopHandlerAnnotation] = JSON.stringify(container.lifecycle.preStop);
  }
  if (container.ports && container.ports.length > 0) {
    annotations[containerPortsAnnotation] = JSON.stringify(container.ports.map(portJson));
  }
  return annotations;
}

/** What a sandbox's labels say about its pod (kubelet `labeledPodSandboxInfo`). */
export interface LabeledPodSandboxInfo {
  /** The pod's own labels (the kubelet's three removed). */
  labels: Record<string, string>;
  podName: string;
  podNamespace: string;
  podUid: string;
}

/** Reads a sandbox's labels (kubelet `getPodSandboxInfoFromLabels`); missing labels read as `''`. */
export function getPodSandboxInfoFromLabels(
  labels: Readonly<Record<string, string>>,
): LabeledPodSandboxInfo {
  const own: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k !== podNameLabel && k !== podNamespaceLabel && k !== podUidLabel) own[k] = v;
  }
  return {
    labels: own,
    podName: labels[podNameLabel] ?? '',
    podNamespace: labels[podNamespaceLabel] ?? '',
    podUid: labels[podUidLabel] ?? '',
  };
}

/** What a container's labels say (kubelet `labeledContainerInfo`). */
export interface LabeledContainerInfo {
  containerName: string;
  podName: string;
  podNamespace: string;
  podUid: string;
}

/** Reads a container's labels (kubelet `getContainerInfoFromLabels`); missing labels read as `''`. */
export function getContainerInfoFromLabels(
  labels: Readonly<Record<string, string>>,
): LabeledContainerInfo {
  return {
    containerName: labels[containerNameLabel] ?? '',
    podName: labels[podNameLabel] ?? '',
    podNamespace: labels[podNamespaceLabel] ?? '',
    podUid: labels[podUidLabel] ?? '',
  };
}

/** What a container's annotations say (kubelet `annotatedContainerInfo`). */
export interface AnnotatedContainerInfo {
  /** Hex hash; `''` when absent. */
  hash: string;
  /** 0 when absent or malformed. */
  restartCount: number;
  podDeletionGracePeriod?: number;
  podTerminationGracePeriod?: number;
  /** `''` when absent. */
  terminationMessagePath: string;
  /** `''` when absent. */
  terminationMessagePolicy: string;
  preStopHandler?: k8s.LifecycleHandler;
  containerPorts?: k8s.ContainerPort[];
  /** `init`, `container` or `''`. */
  containerType: string;
  /** Annotations that were present but could not be read, with the reason (the kubelet logs these). */
  errors: { annotation: string; reason: string }[];
}

/**
 * Reads a container's annotations (kubelet `getContainerInfoFromAnnotations`), for
 * adoption after an agent restart. Never throws: an unreadable annotation takes its
 * zero value and is listed in `errors`.
 */
export function getContainerInfoFromAnnotations(
  annotations: Readonly<Record<string, string>>,
): AnnotatedContainerInfo {
  const errors: AnnotatedContainerInfo['errors'] = [];
  const info: AnnotatedContainerInfo = {
    hash: '',
    restartCount: 0,
    terminationMessagePath: annotations[containerTerminationMessagePathAnnotation] ?? '',
    terminationMessagePolicy: annotations[containerTerminationMessagePolicyAnnotation] ?? '',
    containerType: annotations[containerTypeAnnotation] ?? '',
    errors,
  };
  const hash = annotations[containerHashAnnotation];
  if (hash !== undefined) {
    if (/^[0-9a-f]{1,16}$/i.test(hash)) info.hash = hash.toLowerCase();
    else
      errors.push({
        annotation: containerHashAnnotation,
        reason: `not a hex number: ${JSON.stringify(hash)}`,
      });
  }
  const int = (name: string): number | undefined => {
    const raw = annotations[name];
    if (raw === undefined) return undefined;
    if (/^[+-]?\d+$/.test(raw)) return Number.parseInt(raw, 10);
    errors.push({ annotation: name, reason: `not an integer: ${JSON.stringify(raw)}` });
    return undefined;
  };
  info.restartCount = int(containerRestartCountAnnotation) ?? 0;
  const deletion = int(podDeletionGracePeriodAnnotation);
  if (deletion !== undefined) info.podDeletionGracePeriod = deletion;
  const termination = int(podTerminationGracePeriodAnnotation);
  if (termination !== undefined) info.podTerminationGracePeriod = termination;
  const json = (name: string, check: (v: unknown) => boolean): unknown => {
    const raw = annotations[name];
    if (raw === undefined) return undefined;
    try {
      const value: unknown = JSON.parse(raw);
      if (check(value)) return value;
      errors.push({ annotation: name, reason: 'unexpected JSON shape' });
    } catch (err) {
      errors.push({ annotation: name, reason: err instanceof Error ? err.message : String(err) });
    }
    return undefined;
  };
  const preStop = json(
    containerPreStopHandlerAnnotation,
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  );
  if (preStop !== undefined) info.preStopHandler = preStop as k8s.LifecycleHandler;
  const ports = json(containerPortsAnnotation, (v) => Array.isArray(v));
  if (ports !== undefined) info.containerPorts = ports as k8s.ContainerPort[];
  return info;
}
