import type { k8s } from '@nodeagent/core';
import type { ResolvedProbe } from '../probe-spec.js';

/**
 * The outcome of one probe attempt (kubelet `probe.Result`): `Warning` counts as a
 * success but is reported as a `ProbeWarning` event; `Unknown` counts as a failure
 * without an event.
 */
export type ProbeOutcomeResult = 'Success' | 'Warning' | 'Failure' | 'Unknown';

/** What one probe attempt produced: its result and the output shown in events. */
export interface ProbeOutcome {
  result: ProbeOutcomeResult;
  /** Command output, response body or failure reason (e.g. `HTTP probe failed with statuscode: 500`). */
  output: string;
}

/** Everything a probe attempt needs to know about its target. */
export interface ProbeTarget {
  pod: k8s.Pod;
  /** The pod status the worker probes against (pod IP, container statuses). */
  status: k8s.PodStatus;
  container: k8s.Container;
  /** The container instance, `<runtime>://<id>` as in `ContainerStatus.containerID`. */
  containerId: string;
  /** Aborted when the worker or the manager stops; the attempt then rejects. */
  signal: AbortSignal;
}

/**
 * Runs one attempt of a probe. Resolves with the outcome (a failing container is a
 * `Failure` outcome, not an exception); rejects only on an *error* — the probe could
 * not be carried out (runtime unreachable, port cannot be resolved, aborted) — which
 * the kubelet retries and never counts as a failure.
 */
export interface ProbeRunner {
  run(probe: ResolvedProbe, target: ProbeTarget): Promise<ProbeOutcome>;
}

/** Formats seconds as Go's `time.Duration` does for whole seconds (`1s`, `1m30s`). */
export function goDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}

/** `host:port`, with brackets around IPv6 literals (Go's `net.JoinHostPort`). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The id part of a `<type>://<id>` container id (kubelet `ParseContainerID`). */
export function runtimeContainerId(containerId: string): string {
  const i = containerId.indexOf('://');
  return i === -1 ? containerId : containerId.slice(i + 3);
}

/** Maximum bytes of output (command output or response body) a probe keeps: 10 KiB. */
export const maxProbeOutputBytes = 10 * 1024;
