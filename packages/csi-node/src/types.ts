/**
 * The contracts between the CSI plugin registration (driver registry, CSI client) and
 * the CSI volume manager. Field names follow the generated CSI v1 types
 * (`csi.v1` in proto/csi/v1/csi.proto, camelCase).
 */

/**
 * How a volume is accessed (CSI `VolumeCapability`): either as a mounted file system
 * (`mount`, with an optional file system type and extra mount flags) or as a raw block
 * device (`block`), plus the access mode the workload needs.
 */
export interface VolumeCapability {
  /** File system access: `fsType` empty means the driver's default; `mountFlags` are extra mount options. */
  mount?: { fsType?: string; mountFlags?: string[]; volumeMountGroup?: string };
  /** Raw block access (kubelet `volumeMode: Block`). */
  block?: Record<string, never>;
  /**
   * The access mode (CSI `VolumeCapability.AccessMode.Mode`); kubelet maps
   * ReadWriteOnce to `SINGLE_NODE_WRITER`, ReadOnlyMany to `MULTI_NODE_READER_ONLY`,
   * ReadWriteMany to `MULTI_NODE_MULTI_WRITER`, ReadWriteOncePod to `SINGLE_NODE_SINGLE_WRITER`.
   */
  accessMode:
    | 'UNKNOWN'
    | 'SINGLE_NODE_WRITER'
    | 'SINGLE_NODE_READER_ONLY'
    | 'MULTI_NODE_READER_ONLY'
    | 'MULTI_NODE_SINGLE_WRITER'
    | 'MULTI_NODE_MULTI_WRITER'
    | 'SINGLE_NODE_SINGLE_WRITER'
    | 'SINGLE_NODE_MULTI_WRITER';
}

/** A CSI `NodeStageVolumeRequest`: make a volume available at a node-global staging path. */
export interface NodeStageVolumeRequest {
  /** The volume handle (PV `spec.csi.volumeHandle`, or kubelet's generated id for inline volumes). */
  volumeId: string;
  /** Driver data from ControllerPublishVolume (VolumeAttachment status); `{}` when none. */
  publishContext?: Record<string, string>;
  /** Absolute node-global path, kubelet: `<root>/plugins/kubernetes.io/csi/<driver>/<sha256(handle)>/globalmount`. */
  stagingTargetPath: string;
  /** How the volume is accessed. */
  volumeCapability: VolumeCapability;
  /** `nodeStageSecretRef` contents. */
  secrets?: Record<string, string>;
  /** PV `spec.csi.volumeAttributes` / inline `volumeAttributes`. */
  volumeContext?: Record<string, string>;
}

/** A CSI `NodePublishVolumeRequest`: make a volume available at a per-pod target path. */
export interface NodePublishVolumeRequest {
  /** The volume handle. */
  volumeId: string;
  /** Driver data from ControllerPublishVolume; `{}` when none. */
  publishContext?: Record<string, string>;
  /** The staging path used at NodeStageVolume; omit when the driver lacks STAGE_UNSTAGE_VOLUME. */
  stagingTargetPath?: string;
  /** Absolute per-pod path, kubelet: `<root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount`. */
  targetPath: string;
  /** How the volume is accessed. */
  volumeCapability: VolumeCapability;
  /** Publish read-only (the pod's volumeMount / PV / inline `readOnly`). */
  readonly: boolean;
  /** `nodePublishSecretRef` contents. */
  secrets?: Record<string, string>;
  /** Volume attributes plus kubelet's pod info (`csi.storage.k8s.io/pod.name` …) when the CSIDriver asks for it. */
  volumeContext?: Record<string, string>;
}

/**
 * The node-side CSI calls on one registered driver (kubelet `csiDriverClient`).
 * Every call has the kubelet `csiTimeout` (2 minutes) unless the signal ends it sooner;
 * failures are core error classes mapped from the gRPC status.
 */
export interface CsiNodeClient {
  /** The registered driver name (`GetPluginInfo.name`, e.g. `hostpath.csi.k8s.io`). */
  readonly driverName: string;
  /** CSI NodeGetInfo: the node id as the driver knows it, the max volume count (0 = unlimited) and topology segments. */
  nodeGetInfo(signal?: AbortSignal): Promise<{
    nodeId: string;
    maxVolumesPerNode: number;
    accessibleTopology?: Record<string, string>;
  }>;
  /** CSI NodeGetCapabilities, flattened to the capabilities kubelet acts on. */
  nodeGetCapabilities(signal?: AbortSignal): Promise<{
    stageUnstage: boolean;
    getVolumeStats: boolean;
    expandVolume: boolean;
    singleNodeMultiWriter: boolean;
    volumeMountGroup: boolean;
  }>;
  /** CSI NodeStageVolume (idempotent: staging an already staged volume succeeds). */
  nodeStageVolume(req: NodeStageVolumeRequest, signal?: AbortSignal): Promise<void>;
  /** CSI NodeUnstageVolume (idempotent). */
  nodeUnstageVolume(
    req: { volumeId: string; stagingTargetPath: string },
    signal?: AbortSignal,
  ): Promise<void>;
  /** CSI NodePublishVolume (idempotent). */
  nodePublishVolume(req: NodePublishVolumeRequest, signal?: AbortSignal): Promise<void>;
  /** CSI NodeUnpublishVolume (idempotent). */
  nodeUnpublishVolume(
    req: { volumeId: string; targetPath: string },
    signal?: AbortSignal,
  ): Promise<void>;
  /** CSI NodeGetVolumeStats: usage in bytes and inodes (numbers; 64-bit values lose precision above 2^53). */
  nodeGetVolumeStats(
    req: { volumeId: string; volumePath: string; stagingTargetPath?: string },
    signal?: AbortSignal,
  ): Promise<{
    usage: Array<{ unit: 'BYTES' | 'INODES'; available: number; total: number; used: number }>;
    abnormal?: boolean;
    message?: string;
  }>;
  /** Closes the gRPC channel; later calls fail. */
  close(): void;
}

/**
 * The registered CSI drivers on this node (kubelet `csi.csiDrivers`), filled by plugin
 * registration through the plugin registration directory.
 */
export interface CsiDriverRegistry {
  /** The client of a registered driver, or undefined if none is registered under that name. */
  get(driverName: string): CsiNodeClient | undefined;
  /** Names of the registered drivers, sorted. */
  list(): string[];
  /** Calls the listener after a driver is registered (`true`) or unregistered (`false`); returns an unsubscribe function. */
  onChange(listener: (driverName: string, registered: boolean) => void): () => void;
}
