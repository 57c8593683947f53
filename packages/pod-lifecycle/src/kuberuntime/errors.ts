import {
  InvalidArgumentError,
  UnimplementedError,
  type NodeAgentErrorOptions,
} from '@nodeagent/core';

/**
 * A pod or container spec the kuberuntime builders cannot turn into a CRI config:
 * an invalid quantity, an unknown downward-API field path, a port out of range,
 * `runAsNonRoot` with user 0… The kubelet reports these as `CreateContainerConfigError`
 * (containers) or a failed `GeneratePodSandboxConfig` (sandboxes) and retries on the
 * next sync; it never crashes on them. `field` names the offending field in the
 * API's own path syntax, e.g. `spec.containers[web].env[FOO].valueFrom.fieldRef`.
 */
export class InvalidPodSpecError extends InvalidArgumentError {
  /** Path of the offending field, `''` when the whole object is meant. */
  readonly field: string;

  constructor(field: string, message: string, options?: NodeAgentErrorOptions) {
    super(field === '' ? message : `${field}: ${message}`, options);
    this.field = field;
  }
}

/**
 * A feature the pod uses that needs the API server (ConfigMap or Secret references,
 * `envFrom`, …) and so cannot work in the kubelet's standalone mode. Reported like
 * {@link InvalidPodSpecError} (CreateContainerConfigError), never a crash.
 */
export class UnsupportedInStandaloneError extends UnimplementedError {
  /** Path of the field that needs the API server. */
  readonly field: string;

  constructor(field: string, what: string) {
    super(`${field}: ${what} is not supported in standalone mode (no API server)`);
    this.field = field;
  }
}
