/**
 * @nodeagent/probe-manager — the kubelet's startup, liveness and readiness probes
 * (exec through CRI ExecSync, httpGet, tcpSocket, grpc) with Kubernetes' defaults,
 * thresholds and timing, behind core's `ProbeManager` contract.
 */
export { createProbeManager, DefaultProbeManager } from './manager.js';
export type { ProbeManagerOptions } from './manager.js';
export { registerProbeManager } from './register.js';
export { ResultsManager } from './results-manager.js';
export { ProbeWorker, initialProbeResult } from './worker.js';
export type { ProbeWorkerContext } from './worker.js';
export { Prober, maxProbeRetries, reasonProbeWarning, reasonUnhealthy } from './prober.js';
export type { ProberVerdict } from './prober.js';
export {
  defaultFailureThreshold,
  defaultInitialDelaySeconds,
  defaultPeriodSeconds,
  defaultSuccessThreshold,
  defaultTerminationGracePeriodSeconds,
  defaultTimeoutSeconds,
  probeField,
  probedContainers,
  resolveContainerPort,
  resolveProbe,
  resolveProbeLeniently,
  validatePodProbes,
  validateProbe,
} from './probe-spec.js';
export type {
  LenientlyResolvedProbe,
  ProbedContainer,
  ResolvedProbe,
  ResolvedProbeHandler,
} from './probe-spec.js';
export { DefaultProbeRunner } from './probers/runner.js';
export type { DefaultProbeRunnerOptions } from './probers/runner.js';
export { ExecProber, expandCommand } from './probers/exec.js';
export type { ExecProberOptions } from './probers/exec.js';
export {
  HttpProber,
  buildHttpProbeRequest,
  canonicalHeaderName,
  defaultProbeUserAgentVersion,
  maxHttpRedirects,
} from './probers/http.js';
export type { HttpProbeRequest } from './probers/http.js';
export { TcpProber } from './probers/tcp.js';
export { GrpcProber } from './probers/grpc.js';
export {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  healthCheckPath,
  servingStatusNames,
} from './probers/grpc-health.js';
export { maxProbeOutputBytes } from './probers/types.js';
export type {
  ProbeOutcome,
  ProbeOutcomeResult,
  ProbeRunner,
  ProbeTarget,
} from './probers/types.js';
