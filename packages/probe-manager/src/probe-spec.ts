import { InvalidArgumentError, type k8s, type ProbeType } from '@nodeagent/core';

/** Default `initialDelaySeconds` of a probe (API defaulting). */
export const defaultInitialDelaySeconds = 0;
/** Default `periodSeconds` of a probe (API defaulting). */
export const defaultPeriodSeconds = 10;
/** Default `timeoutSeconds` of a probe (API defaulting). */
export const defaultTimeoutSeconds = 1;
/** Default `successThreshold` of a probe (API defaulting); liveness and startup must use 1. */
export const defaultSuccessThreshold = 1;
/** Default `failureThreshold` of a probe (API defaulting). */
export const defaultFailureThreshold = 3;
/** The pod's default `terminationGracePeriodSeconds` (API defaulting). */
export const defaultTerminationGracePeriodSeconds = 30;

/**
 * The handler of a probe, exactly one kind — or `invalid` for a probe the API server
 * would have rejected (no handler, two handlers, a bad port, a zero period …). The
 * kubelet does not validate probes itself; it discovers a bad one when it runs it, and
 * every attempt then errors. An `invalid` handler carries that error text (`reason`):
 * the kubelet's `missing probe handler for <name>_<namespace>(<uid>):<container>` for a
 * probe without a handler, else the validation reasons of {@link validateProbe}.
 */
export type ResolvedProbeHandler =
  | { kind: 'exec'; exec: k8s.ExecAction }
  | { kind: 'httpGet'; httpGet: k8s.HTTPGetAction }
  | { kind: 'tcpSocket'; tcpSocket: k8s.TCPSocketAction }
  | { kind: 'grpc'; grpc: k8s.GRPCAction }
  | { kind: 'invalid'; reason: string };

/** A probe with every default applied and its handler picked out. */
export interface ResolvedProbe {
  handler: ResolvedProbeHandler;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
  /** The probe-level grace period, when set. */
  terminationGracePeriodSeconds: number | undefined;
}

/** The container field that holds a probe of each kind. */
export const probeField = {
  Liveness: 'livenessProbe',
  Readiness: 'readinessProbe',
  Startup: 'startupProbe',
} as const satisfies Record<ProbeType, keyof k8s.Container>;

const handlerKinds = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;

function isInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/**
 * Finds the number of a probe's port (kubelet `probe.ResolveContainerPort`): a number
 * is taken as is; a string is looked up among the container's named ports, and, as a
 * last resort, parsed as a number. Returns an error message instead of throwing.
 */
export function resolveContainerPort(
  port: k8s.IntOrString,
  container: k8s.Container,
): { port: number } | { error: string } {
  let value: number;
  if (typeof port === 'number') {
    value = port;
  } else if (typeof port === 'string') {
    const named = container.ports?.find((p) => p.name === port);
    if (named) {
      value = named.containerPort;
    } else if (/^[+-]?\d+$/.test(port)) {
      value = Number(port);
    } else {
      return { error: `strconv.Atoi: parsing "${port}": invalid syntax` };
    }
  } else {
    return { error: `intOrString had no kind: ${JSON.stringify(port)}` };
  }
  if (isInteger(value) && value > 0 && value < 65536) return { port: value };
  return { error: `invalid port number: ${value}` };
}

/**
 * Checks one probe the way the API server validates it (`validateProbe`,
 * `validateHandler`) plus what the kubelet would only discover at probe time (a named
 * port the container does not declare). Returns the reasons, empty when valid;
 * `path` prefixes each reason (`spec.containers[0].livenessProbe`).
 *
 * Zero periods, timeouts and thresholds are rejected: the API server turns an unset
 * (Go zero) value into the default before validating, so a 0 can only be an error
 * here where unset and 0 are told apart.
 */
export function validateProbe(
  probe: k8s.Probe,
  probeType: ProbeType,
  container: k8s.Container,
  path: string,
): string[] {
  const reasons: string[] = [];
  if (typeof probe !== 'object' || probe === null) {
    return [`${path}: Invalid value: must be an object`];
  }
  const present = handlerKinds.filter((k) => probe[k] !== undefined && probe[k] !== null);
  if (present.length === 0) {
    reasons.push(`${path}: Required value: must specify a handler type`);
  } else if (present.length > 1) {
    reasons.push(
      `${path}.${present[1]}: Forbidden: may not specify more than 1 handler type (found ${present.join(', ')})`,
    );
  }
  const positive = [
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ] as const;
  for (const f of positive) {
    const v = probe[f];
    if (v === undefined) continue;
    if (!isInteger(v) || v <= 0) {
      reasons.push(`${path}.${f}: Invalid value: ${JSON.stringify(v)}: must be greater than 0`);
    }
  }
  const delay = probe.initialDelaySeconds;
  if (delay !== undefined && (!isInteger(delay) || delay < 0)) {
    reasons.push(
      `${path}.initialDelaySeconds: Invalid value: ${JSON.stringify(delay)}: must be greater than or equal to 0`,
    );
  }
  const grace = probe.terminationGracePeriodSeconds;
  if (grace !== undefined && (!isInteger(grace) || grace <= 0)) {
    reasons.push(
      `${path}.terminationGracePeriodSeconds: Invalid value: ${JSON.stringify(grace)}: must be greater than 0`,
    );
  }
  if (
    probeType !== 'Readiness' &&
    probe.successThreshold !== undefined &&
    probe.successThreshold !== 1
  ) {
    reasons.push(
      `${path}.successThreshold: Invalid value: ${JSON.stringify(probe.successThreshold)}: must be 1`,
    );
  }
  if (probeType === 'Readiness' && grace !== undefined) {
    reasons.push(
      `${path}.terminationGracePeriodSeconds: Invalid value: ${grace}: must not be set for readinessProbes`,
    );
  }
  if (present.length === 1) reasons.push(...validateHandler(probe, container, path));
  return reasons;
}

function validatePort(
  port: unknown,
  container: k8s.Container,
  path: string,
  allowName: boolean,
): string[] {
  if (typeof port === 'string' && !allowName) {
    return [`${path}: Invalid value: ${JSON.stringify(port)}: must be a port number`];
  }
  if (typeof port !== 'number' && typeof port !== 'string') {
    return [`${path}: Required value: must be a port number (1-65535) or name`];
  }
  if (typeof port === 'string' && !/^\d+$/.test(port)) {
    if (!container.ports?.some((p) => p.name === port)) {
      return [
        `${path}: Invalid value: ${JSON.stringify(port)}: no port named ${JSON.stringify(port)} in the container's ports`,
      ];
    }
  }
  const resolved = resolveContainerPort(port, container);
  if ('error' in resolved) {
    return [
      `${path}: Invalid value: ${JSON.stringify(port)}: must be between 1 and 65535, inclusive`,
    ];
  }
  return [];
}

function validateHandler(probe: k8s.Probe, container: k8s.Container, path: string): string[] {
  if (probe.exec) {
    const cmd = probe.exec.command;
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((c) => typeof c !== 'string')) {
      return [`${path}.exec.command: Required value: must be a non-empty list of strings`];
    }
    return [];
  }
  if (probe.httpGet) {
    const reasons = validatePort(probe.httpGet.port, container, `${path}.httpGet.port`, true);
    const scheme = probe.httpGet.scheme;
    if (scheme !== undefined && scheme !== 'HTTP' && scheme !== 'HTTPS') {
      reasons.push(
        `${path}.httpGet.scheme: Unsupported value: ${JSON.stringify(scheme)}: supported values: "HTTP", "HTTPS"`,
      );
    }
    for (const [i, h] of (probe.httpGet.httpHeaders ?? []).entries()) {
      if (typeof h.name !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h.name)) {
        reasons.push(
          `${path}.httpGet.httpHeaders[${i}].name: Invalid value: ${JSON.stringify(h.name)}: must be a valid HTTP header name`,
        );
      }
    }
    return reasons;
  }
  if (probe.tcpSocket) {
    return validatePort(probe.tcpSocket.port, container, `${path}.tcpSocket.port`, true);
  }
  if (probe.grpc) {
    return validatePort(probe.grpc.port, container, `${path}.grpc.port`, false);
  }
  return [];
}

/** Applies the API defaults to a probe already checked by {@link validateProbe}. */
export function resolveProbe(probe: k8s.Probe): ResolvedProbe {
  let handler: ResolvedProbeHandler;
  if (probe.exec) handler = { kind: 'exec', exec: probe.exec };
  else if (probe.httpGet) handler = { kind: 'httpGet', httpGet: probe.httpGet };
  else if (probe.tcpSocket) handler = { kind: 'tcpSocket', tcpSocket: probe.tcpSocket };
  else if (probe.grpc) handler = { kind: 'grpc', grpc: probe.grpc };
  else throw new InvalidArgumentError('probe: must specify a handler type');
  return {
    handler,
    initialDelaySeconds: probe.initialDelaySeconds ?? defaultInitialDelaySeconds,
    periodSeconds: probe.periodSeconds ?? defaultPeriodSeconds,
    timeoutSeconds: probe.timeoutSeconds ?? defaultTimeoutSeconds,
    successThreshold: probe.successThreshold ?? defaultSuccessThreshold,
    failureThreshold: probe.failureThreshold ?? defaultFailureThreshold,
    terminationGracePeriodSeconds: probe.terminationGracePeriodSeconds,
  };
}

/** What {@link resolveProbeLeniently} made of a probe. */
export interface LenientlyResolvedProbe {
  /** The probe to run; its handler is `invalid` when `reasons` is not empty. */
  probe: ResolvedProbe;
  /** The validation reasons ({@link validateProbe}); empty for a valid probe. */
  reasons: string[];
}

/** kubelet `format.Pod`: `<name>_<namespace>(<uid>)`. */
function formatPod(pod: k8s.Pod): string {
  const meta = pod.metadata;
  return `${meta.name ?? ''}_${meta.namespace ?? ''}(${meta.uid ?? ''})`;
}

function positiveOr(v: unknown, fallback: number): number {
  return isInteger(v) && v > 0 ? v : fallback;
}

/**
 * Resolves any probe, valid or not, into one a worker can run — the kubelet's way of
 * treating a probe the API server should have rejected: it is not refused up front, it
 * errors each time it runs. A valid probe resolves as {@link resolveProbe} does. An
 * invalid one gets an `invalid` handler whose `reason` is the error every attempt
 * reports: for a probe without a handler the kubelet's `prober.runProbe` text
 * `missing probe handler for <name>_<namespace>(<uid>):<container>`, otherwise the
 * reasons of {@link validateProbe} joined with `; `. Its timing fields that are
 * invalid fall back to the API defaults (period 10 s, timeout 1 s, thresholds 1 and 3,
 * no initial delay) so that the worker can tick; `path` prefixes the reasons as in
 * {@link validateProbe}.
 */
export function resolveProbeLeniently(
  pod: k8s.Pod,
  container: k8s.Container,
  probeType: ProbeType,
  probe: k8s.Probe,
  path: string,
): LenientlyResolvedProbe {
  const reasons = validateProbe(probe, probeType, container, path);
  if (reasons.length === 0) return { probe: resolveProbe(probe), reasons };
  const fields: Partial<k8s.Probe> = typeof probe === 'object' && probe !== null ? probe : {};
  const hasHandler = handlerKinds.some((k) => fields[k] !== undefined && fields[k] !== null);
  const reason = hasHandler
    ? reasons.join('; ')
    : `missing probe handler for ${formatPod(pod)}:${container.name}`;
  const delay = fields.initialDelaySeconds;
  const grace = fields.terminationGracePeriodSeconds;
  return {
    probe: {
      handler: { kind: 'invalid', reason },
      initialDelaySeconds: isInteger(delay) && delay >= 0 ? delay : defaultInitialDelaySeconds,
      periodSeconds: positiveOr(fields.periodSeconds, defaultPeriodSeconds),
      timeoutSeconds: positiveOr(fields.timeoutSeconds, defaultTimeoutSeconds),
      successThreshold:
        probeType === 'Readiness'
          ? positiveOr(fields.successThreshold, defaultSuccessThreshold)
          : defaultSuccessThreshold,
      failureThreshold: positiveOr(fields.failureThreshold, defaultFailureThreshold),
      terminationGracePeriodSeconds:
        probeType !== 'Readiness' && isInteger(grace) && grace > 0 ? grace : undefined,
    },
    reasons,
  };
}

/** A container together with where it sits in the pod spec. */
export interface ProbedContainer {
  container: k8s.Container;
  /** `spec.containers[0]` or `spec.initContainers[1]`. */
  path: string;
  /** `spec.containers{name}` or `spec.initContainers{name}` (event field path). */
  fieldPath: string;
}

/**
 * The containers whose probes the kubelet runs: regular containers and restartable
 * init containers (sidecars, `restartPolicy: Always`).
 */
export function probedContainers(pod: k8s.Pod): ProbedContainer[] {
  const out: ProbedContainer[] = [];
  for (const [i, c] of (pod.spec?.initContainers ?? []).entries()) {
    if (c.restartPolicy === 'Always') {
      out.push({
        container: c,
        path: `spec.initContainers[${i}]`,
        fieldPath: `spec.initContainers{${c.name}}`,
      });
    }
  }
  for (const [i, c] of (pod.spec?.containers ?? []).entries()) {
    out.push({
      container: c,
      path: `spec.containers[${i}]`,
      fieldPath: `spec.containers{${c.name}}`,
    });
  }
  return out;
}

/**
 * Validates every probe of the pod the way the API server would; throws one
 * `InvalidArgumentError` listing all reasons (operation `ProbeManager/AddPod`) when any
 * is invalid. For tooling (e.g. static pod validation): `ProbeManager.addPod` does not
 * call it — like the kubelet it runs invalid probes and lets them error (see
 * {@link resolveProbeLeniently}).
 */
export function validatePodProbes(pod: k8s.Pod): void {
  const reasons: string[] = [];
  if (!pod?.metadata?.uid) reasons.push('metadata.uid: Required value');
  if (!Array.isArray(pod?.spec?.containers)) reasons.push('spec.containers: Required value');
  else {
    for (const { container, path } of probedContainers(pod)) {
      for (const type of ['Startup', 'Readiness', 'Liveness'] as const) {
        const probe = container[probeField[type]];
        if (probe === undefined || probe === null) continue;
        reasons.push(...validateProbe(probe, type, container, `${path}.${probeField[type]}`));
      }
    }
  }
  if (reasons.length > 0) {
    const name = `${pod?.metadata?.namespace ?? ''}/${pod?.metadata?.name ?? ''}`;
    throw new InvalidArgumentError(`invalid probes in pod ${name}: ${reasons.join('; ')}`, {
      operation: 'ProbeManager/AddPod',
      detail: reasons.join('\n'),
    });
  }
}
