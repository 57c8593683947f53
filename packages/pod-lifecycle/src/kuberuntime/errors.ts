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

/**
 * A volume source nodeagent cannot set up (yet): `csi`, `persistentVolumeClaim`, or any
 * other than emptyDir, hostPath, configMap, secret, downwardAPI and projected. Reported
 * as a FailedMount event; the pod stays ContainerCreating.
 */
export class UnsupportedVolumeSourceError extends UnimplementedError {
  /** The volume's name. */
  readonly volume: string;
  /** The source field the volume sets (`csi`, …), `''` when none. */
  readonly source: string;

  constructor(volume: string, source: string | undefined, detail?: string) {
    super(
      source
        ? `volume source ${JSON.stringify(source)} is not supported by nodeagent${detail ? `: ${detail}` : ''} (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)`
        : 'the volume has no volume source (emptyDir, hostPath, configMap, secret, downwardAPI, projected)',
    );
    this.volume = volume;
    this.source = source ?? '';
  }
}
