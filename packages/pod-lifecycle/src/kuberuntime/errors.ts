import { UnimplementedError } from '@nodeagent/core';

export { InvalidPodSpecError } from '@nodeagent/core';

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
