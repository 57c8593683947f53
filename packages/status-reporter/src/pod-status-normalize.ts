import { PodAnnotation, PodSourceName, podConditionsByKubelet, type k8s } from '@nodeagent/core';

/** Pod condition types the kubelet owns (core's list, re-exported). */
export { podConditionsByKubelet };

/**
 * Condition types whose `lastTransitionTime` the status manager maintains (kubelet
 * `updateStatusInternal`): kept when the condition's status did not change, else now.
 */
export const podConditionsWithTransitionTime: readonly string[] = [
  ...podConditionsByKubelet,
  'DisruptionTarget',
];

/**
 * Bytes of container termination messages kept per pod, shared by its containers
 * (kubelet `MaxPodTerminationMessageLogLength`, 12 KiB).
 */
export const maxPodTerminationMessageLogLength = 1024 * 12;

/** Whether the pod comes from a static source (`kubernetes.io/config.source` is `file` or `http`). */
export function isStaticPod(pod: k8s.Pod): boolean {
  const source = pod.metadata.annotations?.[PodAnnotation.ConfigSource];
  return source === PodSourceName.File || source === PodSourceName.Http;
}

/** Whether the pod is a mirror pod (annotation `kubernetes.io/config.mirror`). */
export function isMirrorPod(pod: k8s.Pod): boolean {
  return pod.metadata.annotations?.[PodAnnotation.ConfigMirror] !== undefined;
}

/**
 * The hash a static pod's mirror carries in `kubernetes.io/config.mirror` (kubelet
 * `getPodHash`): the static pod's `kubernetes.io/config.hash`, else its UID.
 */
export function staticPodHash(pod: k8s.Pod): string {
  return pod.metadata.annotations?.[PodAnnotation.ConfigHash] ?? pod.metadata.uid ?? '';
}

/**
 * Whether a condition type is owned by the kubelet for this pod. Static and API pods
 * alike (the parameter is kept for callers that tell them apart).
 */
export function isConditionOwnedByKubelet(type: string, _staticPod: boolean): boolean {
  return podConditionsByKubelet.includes(type);
}

/** `Succeeded` or `Failed`. */
export function isTerminalPhase(phase: k8s.PodPhase | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

const rfc3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)$/;

/**
 * An RFC 3339 timestamp at second precision in UTC (`metav1.Time.Rfc3339Copy` as the
 * API server serializes it): fractions are cut, offsets converted to `Z`. Values that
 * do not parse are returned unchanged.
 */
export function normalizeTimestamp(t: string): string {
  const m = rfc3339.exec(t);
  if (m === null) return t;
  const base = m[1] ?? '';
  const zone = m[3] ?? 'Z';
  if (zone === 'Z' || zone === 'z') return `${base}Z`;
  const ms = Date.parse(`${base}${zone}`);
  return Number.isNaN(ms) ? t : `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function truncateUtf8(s: string, maxBytes: number): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= maxBytes) return s;
  // Cut on a character boundary: drop continuation bytes at the cut.
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

function normalizeState(
  state: k8s.ContainerState | undefined,
  bytesPerStatus: number,
): k8s.ContainerState | undefined {
  if (state === undefined) return undefined;
  const out: k8s.ContainerState = { ...state };
  if (state.running !== undefined) {
    out.running = { ...state.running };
    if (state.running.startedAt !== undefined)
      out.running.startedAt = normalizeTimestamp(state.running.startedAt);
  }
  if (state.terminated !== undefined) {
    const t = { ...state.terminated };
    if (t.startedAt !== undefined) t.startedAt = normalizeTimestamp(t.startedAt);
    if (t.finishedAt !== undefined) t.finishedAt = normalizeTimestamp(t.finishedAt);
    if (t.message !== undefined) t.message = truncateUtf8(t.message, bytesPerStatus);
    out.terminated = t;
  }
  if (state.waiting !== undefined) out.waiting = { ...state.waiting };
  return out;
}

function normalizeContainerStatuses(
  statuses: readonly k8s.ContainerStatus[],
  bytesPerStatus: number,
): k8s.ContainerStatus[] {
  return statuses.map((s) => {
    const out: k8s.ContainerStatus = { ...s };
    const state = normalizeState(s.state, bytesPerStatus);
    const last = normalizeState(s.lastState, bytesPerStatus);
    if (state !== undefined) out.state = state;
    if (last !== undefined) out.lastState = last;
    return out;
  });
}

/**
 * A normalized copy of `status` (kubelet `normalizeStatus`): timestamps at second
 * precision (the API server keeps no more), container and ephemeral container statuses
 * sorted by name, init container statuses in the order of `spec.initContainers`,
 * termination messages cut to 12 KiB shared by the pod's containers (ephemeral ones
 * included). The input is not modified.
 */
export function normalizePodStatus(pod: k8s.Pod, status: k8s.PodStatus): k8s.PodStatus {
  const containers =
    pod.spec.containers.length +
    (pod.spec.initContainers?.length ?? 0) +
    (pod.spec.ephemeralContainers?.length ?? 0);
  const bytesPerStatus =
    containers > 0
      ? Math.floor(maxPodTerminationMessageLogLength / containers)
      : maxPodTerminationMessageLogLength;
  const out: k8s.PodStatus = structuredClone(status);
  if (out.startTime !== undefined) out.startTime = normalizeTimestamp(out.startTime);
  if (out.conditions !== undefined) {
    out.conditions = out.conditions.map((c) => {
      const n: k8s.PodCondition = { ...c };
      if (typeof c.lastProbeTime === 'string')
        n.lastProbeTime = normalizeTimestamp(c.lastProbeTime);
      if (c.lastTransitionTime !== undefined)
        n.lastTransitionTime = normalizeTimestamp(c.lastTransitionTime);
      return n;
    });
  }
  if (out.containerStatuses !== undefined) {
    out.containerStatuses = normalizeContainerStatuses(out.containerStatuses, bytesPerStatus).sort(
      (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
  }
  if (out.initContainerStatuses !== undefined) {
    const order = new Map((pod.spec.initContainers ?? []).map((c, i) => [c.name, i]));
    const rank = (s: k8s.ContainerStatus): number => order.get(s.name) ?? Number.MAX_SAFE_INTEGER;
    out.initContainerStatuses = normalizeContainerStatuses(
      out.initContainerStatuses,
      bytesPerStatus,
    ).sort((a, b) => rank(a) - rank(b));
  }
  if (out.ephemeralContainerStatuses !== undefined) {
    out.ephemeralContainerStatuses = normalizeContainerStatuses(
      out.ephemeralContainerStatuses,
      bytesPerStatus,
    ).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return out;
}

/**
 * Copies `lastTransitionTime` from the old status for conditions (of the types in
 * {@link podConditionsWithTransitionTime}) whose status did not change, and sets it to
 * `now` for the others (kubelet `updateLastTransitionTime`). Mutates `status`.
 */
export function updateLastTransitionTimes(
  status: k8s.PodStatus,
  oldStatus: k8s.PodStatus | undefined,
  now: string,
): void {
  for (const c of status.conditions ?? []) {
    if (!podConditionsWithTransitionTime.includes(c.type)) continue;
    const old = oldStatus?.conditions?.find((o) => o.type === c.type);
    c.lastTransitionTime =
      old !== undefined && old.status === c.status && old.lastTransitionTime !== undefined
        ? old.lastTransitionTime
        : now;
  }
}

/**
 * Why a status update is illegal, or undefined when it is fine: a pod never leaves a
 * terminal phase (the API server rejects it too), and a container that terminated
 * does not run again unless its restart policy allows it (kubelet
 * `checkContainerStateTransition`).
 */
export function illegalTransition(
  pod: k8s.Pod,
  oldStatus: k8s.PodStatus | undefined,
  status: k8s.PodStatus,
): string | undefined {
  if (oldStatus === undefined) return undefined;
  if (isTerminalPhase(oldStatus.phase) && status.phase !== oldStatus.phase) {
    return `pod phase may not change from terminal phase ${oldStatus.phase ?? ''} to ${status.phase ?? '(none)'}`;
  }
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (policy === 'Always') return undefined;
  const check = (
    olds: readonly k8s.ContainerStatus[] | undefined,
    news: readonly k8s.ContainerStatus[] | undefined,
    restartable: (name: string) => boolean,
    kind: string,
  ): string | undefined => {
    for (const o of olds ?? []) {
      const t = o.state?.terminated;
      if (t === undefined || restartable(o.name)) continue;
      if (t.exitCode !== 0 && policy === 'OnFailure') continue;
      const n = news?.find((x) => x.name === o.name);
      if (n !== undefined && n.state?.terminated === undefined) {
        return `terminated ${kind} ${o.name} attempted illegal transition to non-terminated state`;
      }
    }
    return undefined;
  };
  const sidecars = new Set(
    (pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name),
  );
  return (
    check(oldStatus.containerStatuses, status.containerStatuses, () => false, 'container') ??
    check(
      oldStatus.initContainerStatuses,
      status.initContainerStatuses,
      (name) => sidecars.has(name),
      'init container',
    )
  );
}

/**
 * Whether two normalized statuses are equal as far as the kubelet is concerned
 * (kubelet `isPodStatusByKubeletEqual`): kubelet-owned conditions of `status` must
 * match in status, reason and message; other conditions are ignored; every other
 * field must be equal.
 */
export function isPodStatusByKubeletEqual(
  oldStatus: k8s.PodStatus,
  status: k8s.PodStatus,
  staticPod: boolean,
): boolean {
  for (const c of status.conditions ?? []) {
    if (!isConditionOwnedByKubelet(c.type, staticPod) && c.type !== 'DisruptionTarget') continue;
    const o = oldStatus.conditions?.find((x) => x.type === c.type);
    if (
      o === undefined ||
      o.status !== c.status ||
      (o.reason ?? '') !== (c.reason ?? '') ||
      (o.message ?? '') !== (c.message ?? '')
    ) {
      return false;
    }
  }
  const strip = (s: k8s.PodStatus): unknown => canonicalJson({ ...s, conditions: undefined });
  return JSON.stringify(strip(oldStatus)) === JSON.stringify(strip(status));
}

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [k: string]: JsonValue };

/**
 * The JSON form the API server would store and return, for comparing and diffing:
 * `undefined`, `null`, empty strings, empty lists and empty objects are dropped
 * (Go's `omitempty` and unset pointers), so that `{lastProbeTime: null}` from the
 * server equals an absent `lastProbeTime` from the agent. Object keys are sorted.
 */
export function canonicalJson(value: unknown): JsonValue | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (Array.isArray(value)) {
    const items = value.map((v) => canonicalJson(v) ?? null);
    return items.length === 0 ? undefined : items;
  }
  if (value instanceof Date) return normalizeTimestamp(value.toISOString());
  if (typeof value === 'object') {
    const out: JsonObject = {};
    for (const k of Object.keys(value).sort()) {
      const v = canonicalJson((value as Record<string, unknown>)[k]);
      if (v !== undefined) out[k] = v;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  if (typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string')
    return value;
  return undefined;
}

/** The ready condition the kubelet reports for a pod in a terminal phase (`PodCompleted`, False). */
function terminalReadyCondition(
  type: string,
  phase: k8s.PodPhase,
  now: string,
  old: k8s.PodCondition | undefined,
): k8s.PodCondition {
  return {
    type,
    status: 'False',
    reason: phase === 'Succeeded' ? 'PodCompleted' : 'PodFailed',
    lastTransitionTime:
      old?.status === 'False' && old.lastTransitionTime ? old.lastTransitionTime : now,
  };
}

/**
 * The status to write: the agent's status merged onto the API object's (kubelet
 * `mergePodStatus`). Conditions the kubelet does not own are kept from the API
 * object; a transition to a terminal phase is held back while the pod could still
 * have running containers; a terminal status never says Ready / ContainersReady
 * True. The inputs are not modified.
 */
export function mergePodStatus(
  apiStatus: k8s.PodStatus,
  status: k8s.PodStatus,
  options: { couldHaveRunningContainers: boolean; staticPod: boolean; now: string },
): k8s.PodStatus {
  const merged: k8s.PodStatus = structuredClone(status);
  const conditions: k8s.PodCondition[] = [];
  for (const c of apiStatus.conditions ?? []) {
    if (!isConditionOwnedByKubelet(c.type, options.staticPod)) conditions.push(structuredClone(c));
  }
  const toTerminal = !isTerminalPhase(apiStatus.phase) && isTerminalPhase(status.phase);
  for (const c of status.conditions ?? []) {
    if (isConditionOwnedByKubelet(c.type, options.staticPod)) conditions.push(structuredClone(c));
    else if (c.type === 'DisruptionTarget' && toTerminal && !options.couldHaveRunningContainers) {
      // Shared with the control plane: sent only with the terminal phase.
      const i = conditions.findIndex((x) => x.type === c.type);
      if (i >= 0) conditions[i] = structuredClone(c);
      else conditions.push(structuredClone(c));
    }
  }
  merged.conditions = conditions;
  if (toTerminal && options.couldHaveRunningContainers) {
    const { phase, reason, message } = apiStatus;
    if (phase === undefined) delete merged.phase;
    else merged.phase = phase;
    if (reason === undefined) delete merged.reason;
    else merged.reason = reason;
    if (message === undefined) delete merged.message;
    else merged.message = message;
  }
  if (merged.phase !== undefined && isTerminalPhase(merged.phase)) {
    const phase = merged.phase;
    const list = merged.conditions;
    const readyTrue = list.some(
      (c) => (c.type === 'Ready' || c.type === 'ContainersReady') && c.status === 'True',
    );
    if (readyTrue) {
      for (const type of ['ContainersReady', 'Ready']) {
        const i = list.findIndex((c) => c.type === type);
        const cond = terminalReadyCondition(type, phase, options.now, list[i]);
        if (i >= 0) list[i] = cond;
        else list.push(cond);
      }
    }
  }
  return merged;
}

/** Whether any container of the status is running. */
export function hasRunningContainers(status: k8s.PodStatus): boolean {
  return [
    ...(status.initContainerStatuses ?? []),
    ...(status.containerStatuses ?? []),
    ...(status.ephemeralContainerStatuses ?? []),
  ].some((s) => s.state?.running !== undefined);
}

/**
 * The final status of a pod whose containers have all stopped (kubelet
 * `TerminatePod`): containers without a terminated state are reported terminated
 * with reason `ContainerStatusUnknown` and exit code 137 (never as a success), and a
 * pod from the API server that is still Pending or Running becomes Failed.
 */
export function terminatedPodStatus(pod: k8s.Pod, status: k8s.PodStatus): k8s.PodStatus {
  const out = structuredClone(status);
  const unknown = (): k8s.ContainerState => ({
    terminated: {
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was terminated',
    },
  });
  const initialized =
    (pod.spec.initContainers?.length ?? 0) === 0 ||
    (out.containerStatuses ?? []).some(
      (s) => s.lastState?.terminated !== undefined || s.state?.waiting === undefined,
    ) ||
    (() => {
      const last = out.initContainerStatuses?.at(-1);
      return last?.state?.terminated?.exitCode === 0 || last?.lastState?.terminated?.exitCode === 0;
    })();
  if (initialized) {
    for (const s of out.containerStatuses ?? []) {
      if (s.state?.terminated === undefined) s.state = unknown();
    }
  }
  // Every init container but the trailing ones that never started.
  const inits = out.initContainerStatuses ?? [];
  let lastStarted = 0;
  for (let i = inits.length - 1; i >= 0; i--) {
    const s = inits[i];
    if (s !== undefined && (s.state?.waiting === undefined || s.lastState?.terminated)) {
      lastStarted = i;
      break;
    }
  }
  for (let i = 0; i <= lastStarted && i < inits.length; i++) {
    const s = inits[i];
    if (s !== undefined && s.state?.terminated === undefined) s.state = unknown();
  }
  if (!isStaticPod(pod) && !isTerminalPhase(out.phase)) out.phase = 'Failed';
  return out;
}

/**
 * Converts an object returned by @kubernetes/client-node (its models carry `Date`
 * objects for timestamps) to the JSON shape of core's `k8s` types: timestamps become
 * RFC 3339 strings at second precision, `undefined` fields disappear.
 */
export function toK8sJson<T>(value: unknown): T {
  const convert = (v: unknown): unknown => {
    if (v instanceof Date) return normalizeTimestamp(v.toISOString());
    if (Array.isArray(v)) return v.map(convert);
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x !== undefined) out[k] = convert(x);
      }
      return out;
    }
    return v;
  };
  return convert(value) as T;
}
