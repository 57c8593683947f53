import {
  FailedPreconditionError,
  InvalidArgumentError,
  UnavailableError,
  UnimplementedError,
  type Clock,
  isNodeAgentError,
  standaloneSecretManager,
  statsTime,
  type MountedVolume,
  type PodVolumePlugin,
  type SecretManager,
  type VolumeStats,
  type k8s,
} from '@nodeagent/core';
import {
  standalonePersistentVolumeLookup,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type PersistentVolumeLookup,
} from './pv-lookup.js';
import { csiPluginName, makeEphemeralVolumeHandle } from './vol-data.js';
import {
  CsiVolumeManager,
  type CsiReconstructResult,
  type CsiVolumeManagerOptions,
  type CsiVolumeSpec,
} from './volume-manager.js';

/** Options of {@link CsiVolumePlugin}. */
export interface CsiVolumePluginOptions extends CsiVolumeManagerOptions {
  /**
   * Secrets for `nodePublishSecretRef` / `nodeStageSecretRef` (kubelet reads them from
   * the API server). Default: the standalone manager (every Secret is missing).
   */
  secrets?: SecretManager;
  /**
   * Claims and volumes for `persistentVolumeClaim` volumes (API mode:
   * `KubePersistentVolumeLookup`). Default: standalone (every claim is missing).
   */
  persistentVolumes?: PersistentVolumeLookup;
}

function podUidOf(pod: k8s.Pod): string {
  const uid = pod.metadata?.uid;
  if (!uid) throw new InvalidArgumentError('the pod has no metadata.uid');
  return uid;
}

/**
 * The kubelet's CSI volume plugin (`kubernetes.io/csi`) as a core `PodVolumePlugin`:
 * inline ephemeral `csi:` volumes and `persistentVolumeClaim` volumes whose PV has
 * `spec.csi`, staged/published by the {@link CsiVolumeManager}.
 *
 * - Inline: volume handle `csi-<sha256(podUID + volumeName)>`, `volumeAttributes` as
 *   the volume context, `nodePublishSecretRef` read from the pod's namespace,
 *   `readOnly`, `fsType`, access mode ReadWriteOnce; staged when the driver can
 *   (`stageEphemeralVolumes`, default true; the kubelet never stages them).
 * - PVC: the claim must be Bound to a PV that names it in `claimRef`; the PV's
 *   `spec.csi` gives driver, handle, attributes, secrets (`nodeStageSecretRef`,
 *   `nodePublishSecretRef` with their namespaces), `fsType`, `readOnly` (or the pod's
 *   `persistentVolumeClaim.readOnly`); its first access mode and `mountOptions` are
 *   used. The pod's volume directory is named after the PV (kubelet `spec.Name()`).
 *   Block-mode volumes are refused.
 */
export class CsiVolumePlugin implements PodVolumePlugin {
  readonly name = csiPluginName;
  /** The underlying manager (stage/publish state, reconstruction). */
  readonly manager: CsiVolumeManager;
  private readonly secrets: SecretManager;
  private readonly persistentVolumes: PersistentVolumeLookup;
  private readonly clock: Clock;
  /** Resolved specs of set-up volumes by `<podUid>/<podVolumeName>` (for stats). */
  private readonly specs = new Map<string, CsiVolumeSpec>();

  constructor(options: CsiVolumePluginOptions) {
    this.manager = new CsiVolumeManager(options);
    this.clock = options.clock;
    this.secrets = options.secrets ?? standaloneSecretManager;
    this.persistentVolumes = options.persistentVolumes ?? standalonePersistentVolumeLookup;
  }

  canSupport(_pod: k8s.Pod, volume: k8s.Volume): boolean {
    return volume.csi !== undefined || volume.persistentVolumeClaim !== undefined;
  }

  async setUp(pod: k8s.Pod, volume: k8s.Volume, signal?: AbortSignal): Promise<MountedVolume> {
    const uid = podUidOf(pod);
    const spec = await this.resolve(pod, volume);
    const path = await this.manager.publish(uid, spec, signal);
    this.specs.set(`${uid}/${volume.name}`, spec);
    return spec.readOnly ? { path, readOnly: true } : { path };
  }

  async tearDownPod(pod: k8s.Pod): Promise<void> {
    const uid = podUidOf(pod);
    await this.manager.unpublishPod(uid);
    for (const key of [...this.specs.keys()]) if (key.startsWith(`${uid}/`)) this.specs.delete(key);
  }

  /**
   * Reconstruction at agent start: keeps the CSI volumes of `desiredPods`, unpublishes
   * and unstages everything else found on disk. See {@link CsiVolumeManager.reconstruct}.
   */
  reconstruct(desiredPods: Iterable<k8s.Pod>, signal?: AbortSignal): Promise<CsiReconstructResult> {
    const uids: string[] = [];
    for (const p of desiredPods) if (p.metadata?.uid) uids.push(p.metadata.uid);
    return this.manager.reconstruct(uids, signal);
  }

  /**
   * Usage of the pod's published CSI volumes through NodeGetVolumeStats (kubelet
   * `csiMetricsProvider`), for the pod's `volume` stats: one entry per volume whose
   * driver has GET_VOLUME_STATS, with `pvcRef` for claims. Volumes whose driver fails
   * or is gone are left out.
   */
  async volumeStats(pod: k8s.Pod, signal?: AbortSignal): Promise<VolumeStats[]> {
    const uid = podUidOf(pod);
    const published = this.manager.publishedVolumes(uid);
    const out: VolumeStats[] = [];
    for (const volume of pod.spec?.volumes ?? []) {
      if (!this.canSupport(pod, volume)) continue;
      const spec = this.specs.get(`${uid}/${volume.name}`);
      const specVolId = spec?.specVolId ?? (volume.csi ? volume.name : undefined);
      const entry = published.find(
        (p) =>
          p.state === 'mounted' &&
          (spec ? p.volumeHandle === spec.volumeHandle : p.specVolId === specVolId),
      );
      if (!entry) continue;
      try {
        const usage = await this.manager.volumeUsage(entry, signal);
        if (!usage) continue;
        const bytes = usage.usage.find((u) => u.unit === 'BYTES');
        const inodes = usage.usage.find((u) => u.unit === 'INODES');
        const claim = volume.persistentVolumeClaim;
        out.push({
          name: volume.name,
          time: statsTime(this.clock.now()),
          ...(bytes
            ? {
                capacityBytes: bytes.total,
                availableBytes: bytes.available,
                usedBytes: bytes.used,
              }
            : {}),
          ...(inodes
            ? { inodes: inodes.total, inodesFree: inodes.available, inodesUsed: inodes.used }
            : {}),
          ...(claim
            ? { pvcRef: { name: claim.claimName, namespace: pod.metadata?.namespace || 'default' } }
            : {}),
        });
      } catch {
        // A driver that cannot report stats does not break the pod's other stats.
      }
    }
    return out;
  }

  /** Resolves a pod volume to what the manager stages and publishes. */
  async resolve(pod: k8s.Pod, volume: k8s.Volume): Promise<CsiVolumeSpec> {
    const uid = podUidOf(pod);
    const namespace = pod.metadata?.namespace || 'default';
    if (volume.csi) {
      const src = volume.csi;
      const secretName = src.nodePublishSecretRef?.name;
      return {
        podVolumeName: volume.name,
        specVolId: volume.name,
        driverName: src.driver,
        volumeHandle: makeEphemeralVolumeHandle(uid, volume.name),
        lifecycleMode: 'Ephemeral',
        readOnly: src.readOnly === true,
        fsType: src.fsType ?? '',
        volumeContext: { ...(src.volumeAttributes ?? {}) },
        mountOptions: [],
        accessMode: 'ReadWriteOnce',
        publishSecrets: secretName
          ? await this.secretData('NodePublishSecretRef', namespace, secretName)
          : {},
        stageSecrets: {},
      };
    }
    const claimSource = volume.persistentVolumeClaim;
    if (!claimSource) {
      throw new UnimplementedError(`volume "${volume.name}" is not a CSI volume`);
    }
    const claim = await this.persistentVolumes.getClaim(namespace, claimSource.claimName);
    const pv = await this.boundVolume(namespace, claimSource.claimName, claim);
    const csi = pv.spec?.csi;
    const pvName = pv.metadata.name ?? '';
    if (!csi) {
      throw new UnimplementedError(
        `persistentvolume "${pvName}" is not a CSI volume: only CSI persistent volumes are supported`,
      );
    }
    if (pv.spec?.volumeMode === 'Block' || claim.spec?.volumeMode === 'Block') {
      throw new UnimplementedError(
        `persistentvolume "${pvName}" has volumeMode Block: raw block volumes are not supported`,
      );
    }
    const stageRef = csi.nodeStageSecretRef;
    const publishRef = csi.nodePublishSecretRef;
    return {
      podVolumeName: volume.name,
      specVolId: pvName,
      driverName: csi.driver,
      volumeHandle: csi.volumeHandle,
      lifecycleMode: 'Persistent',
      readOnly: claimSource.readOnly === true || csi.readOnly === true,
      fsType: csi.fsType ?? '',
      volumeContext: { ...(csi.volumeAttributes ?? {}) },
      mountOptions: pv.spec?.mountOptions ?? [],
      accessMode: pv.spec?.accessModes?.[0] ?? 'ReadWriteOnce',
      publishSecrets: publishRef?.name
        ? await this.secretData(
            'NodePublishSecretRef',
            publishRef.namespace || namespace,
            publishRef.name,
          )
        : {},
      stageSecrets: stageRef?.name
        ? await this.secretData(
            'NodeStageSecretRef',
            stageRef.namespace || namespace,
            stageRef.name,
          )
        : {},
    };
  }

  /** The PV bound to the claim (kubelet desired-state populator `getPVCExtractPV` + `getPVSpec`). */
  private async boundVolume(
    namespace: string,
    claimName: string,
    claim: PersistentVolumeClaim,
  ): Promise<PersistentVolume> {
    if (claim.metadata.deletionTimestamp) {
      throw new FailedPreconditionError(
        `can't start pod because PVC ${namespace}/${claimName} is being deleted`,
      );
    }
    const volumeName = claim.spec?.volumeName ?? '';
    const phase = claim.status?.phase ?? '';
    if (phase !== 'Bound' || volumeName === '') {
      throw new FailedPreconditionError(
        `PVC ${namespace}/${claimName} has non-bound phase (${JSON.stringify(phase)}) or empty pvc.Spec.VolumeName (${JSON.stringify(volumeName)})`,
      );
    }
    const pv = await this.persistentVolumes.getVolume(volumeName);
    const ref = pv.spec?.claimRef;
    if (
      !ref ||
      ref.name !== claimName ||
      (ref.namespace || 'default') !== namespace ||
      (claim.metadata.uid !== undefined && ref.uid !== undefined && ref.uid !== claim.metadata.uid)
    ) {
      throw new FailedPreconditionError(
        `the PV ${JSON.stringify(volumeName)} is not bound to PVC ${namespace}/${claimName}`,
      );
    }
    return pv;
  }

  private async secretData(
    what: string,
    namespace: string,
    name: string,
  ): Promise<Record<string, string>> {
    let secret: k8s.Secret;
    try {
      secret = await this.secrets.getSecret(namespace, name);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const detail = `fetching ${what} ${namespace}/${name} failed: ${message}`;
      // Keep a transient error transient (the mount is retried with back-off either way).
      if (isNodeAgentError(err, 'Unavailable')) throw new UnavailableError(detail, { cause: err });
      throw new FailedPreconditionError(detail, { cause: err });
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.data ?? {}))
      out[k] = Buffer.from(v, 'base64').toString('utf8');
    for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
    return out;
  }
}

/** Creates a {@link CsiVolumePlugin}. */
export function createCsiVolumePlugin(options: CsiVolumePluginOptions): CsiVolumePlugin {
  return new CsiVolumePlugin(options);
}
