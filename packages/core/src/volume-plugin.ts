import type { Pod, Volume } from './k8s/types.js';
import { createToken, type InjectionToken } from './token.js';

/** Where a volume was mounted for a pod, to be bound into its containers. */
export interface MountedVolume {
  /** Host path of the volume's directory (kubelet `<root>/pods/<uid>/volumes/<plugin>/<name>/…`). */
  path: string;
  /** The volume must be mounted read-only into containers. */
  readOnly?: boolean;
}

/**
 * A volume plugin for volume sources pod-lifecycle does not mount itself (kubelet
 * `volume.VolumePlugin` + the volume manager's attach/mount for that plugin), e.g.
 * CSI (inline `csi:` volumes and PersistentVolumeClaims bound to CSI volumes).
 */
export interface PodVolumePlugin {
  /** Plugin name, kubelet style: `kubernetes.io/csi`. */
  readonly name: string;
  /** Whether this plugin mounts the volume. */
  canSupport(pod: Pod, volume: Volume): boolean;
  /**
   * Makes the volume ready for the pod (stage, publish…) and returns where it is.
   * Idempotent: called on every sync of the pod while it runs. Throws a
   * NodeAgentError whose message completes `MountVolume.SetUp failed for volume "<name>" : `.
   */
  setUp(pod: Pod, volume: Volume, signal?: AbortSignal): Promise<MountedVolume>;
  /**
   * Unmounts every volume of this plugin for the pod (the pod's containers are
   * stopped). Idempotent; throws when something stays mounted (retried later).
   */
  tearDownPod(pod: Pod): Promise<void>;
}

/** The volume plugins the agent has (register the list; empty when none). */
export const PodVolumePlugins: InjectionToken<readonly PodVolumePlugin[]> =
  createToken<readonly PodVolumePlugin[]>('PodVolumePlugins');
