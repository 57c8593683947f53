import { chmod, lchown, lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  isNodeAgentError,
  noopLogger,
  standaloneConfigMapManager,
  standaloneSecretManager,
  standaloneServiceAccountTokenManager,
  type Clock,
  type ConfigMapManager,
  type Logger,
  type MountedVolume,
  type PodVolumePlugin,
  type SecretManager,
  type ServiceAccountTokenManager,
  type k8s,
} from '@nodeagent/core';
import { AtomicWriter, atomicWriterDataDir } from './atomic-writer.js';
import type { DownwardApiContext } from './env.js';
import { UnsupportedVolumeSourceError } from './errors.js';
import {
  collectDownwardApiPayload,
  defaultVolumeFileMode,
  makeConfigMapPayload,
  makeSecretPayload,
  makeServiceAccountTokenPayload,
  projectedTokenFsUser,
  throwAggregateVolumeErrors,
  type VolumePayload,
} from './volume-payload.js';
import { nodeTmpfsMounter, type TmpfsMounter } from './volume-mounter.js';
import {
  fsGroupDirectoryMask,
  fsGroupFileMode,
  fsGroupReadOnlyMask,
  podFsGroup,
  setVolumeOwnership,
} from './volume-ownership.js';
import { volumeHostPath, volumeSourceKind } from './volumes.js';

/** The volume sources whose contents come from the API (kubelet plugins with `RequiresRemount() == true`). */
export type ConfigVolumeSource = 'configMap' | 'secret' | 'downwardAPI' | 'projected';

/**
 * Whether the kubelet backs the volume with a tmpfs (a wrapped emptyDir with
 * `medium: Memory`): Secret, downward-API and projected volumes, so secrets never
 * reach the node's disk.
 */
export function isMemoryBackedVolume(volume: k8s.Volume): boolean {
  return !!(volume.secret || volume.downwardAPI || volume.projected);
}

/** Options of {@link ConfigVolumeManager}. */
export interface ConfigVolumeManagerOptions {
  clock: Clock;
  /** ConfigMaps for configMap volumes and projections; the standalone manager by default. */
  configMaps?: ConfigMapManager;
  /** Secrets for secret volumes and projections; the standalone manager by default. */
  secrets?: SecretManager;
  /**
   * Tokens for projected `serviceAccountToken` sources (kubelet `token.Manager`); the
   * standalone manager by default, with which such a source fails its mount.
   */
  serviceAccountTokens?: ServiceAccountTokenManager;
  /** tmpfs mounts for memory-backed volumes; `mount`/`umount` by default. */
  mounter?: TmpfsMounter;
  logger?: Logger;
  /** Called when a tmpfs mount failed and the volume was written to disk instead. */
  onTmpfsFallback?: (pod: k8s.Pod, volume: string, error: unknown) => void;
  /**
   * Plugins for the sources this manager does not mount itself (csi,
   * persistentVolumeClaim): a volume one of them `canSupport`s is set up and torn
   * down by it. Default: none (such volumes fail with UnsupportedVolumeSourceError).
   */
  volumePlugins?: readonly PodVolumePlugin[];
}

/** Why one volume could not be set up (for a `FailedMount` event). */
export interface VolumeSetUpFailure {
  volume: string;
  error: unknown;
}

/**
 * Sets up and tears down the API-backed volumes of pods — configMap, secret,
 * downwardAPI and projected — under `<podDir>/volumes/kubernetes.io~<plugin>/<name>`
 * (the kubelet's configmap, secret, downwardapi and projected volume plugins):
 *
 * - contents are written with the {@link AtomicWriter} and re-written on every set-up
 *   call only when they differ (the kubelet remounts these volumes on each pod sync);
 * - secret, downwardAPI and projected volumes live on a tmpfs mounted on the volume
 *   directory; when mounting fails the volume is written to disk and
 *   `onTmpfsFallback` is called;
 * - `optional` sources whose object is missing give an empty volume, missing listed
 *   keys fail unless `optional`, bad item paths fail before anything is written;
 * - a projected `serviceAccountToken` is a pod-bound token of the pod's ServiceAccount
 *   from the token manager (refreshed there; a rotated token is written by the next
 *   set-up call); without an API server it fails;
 * - other sources (csi, persistentVolumeClaim) go to the first configured
 *   `PodVolumePlugin` that `canSupport`s them (set up on every call, torn down with the
 *   pod before anything else is unmounted); without one they fail as unsupported.
 */
export class ConfigVolumeManager {
  private readonly configMaps: ConfigMapManager;
  private readonly secrets: SecretManager;
  private readonly tokens: ServiceAccountTokenManager;
  private readonly mounter: TmpfsMounter;
  private readonly logger: Logger;
  /** Memory-backed volume directories whose tmpfs is in place (or that fell back to disk). */
  private readonly prepared = new Set<string>();
  private readonly plugins: readonly PodVolumePlugin[];
  /** Volumes set up by a plugin, per pod directory and volume name. */
  private readonly delegated = new Map<string, Map<string, MountedVolume>>();

  constructor(private readonly options: ConfigVolumeManagerOptions) {
    this.configMaps = options.configMaps ?? standaloneConfigMapManager;
    this.secrets = options.secrets ?? standaloneSecretManager;
    this.tokens = options.serviceAccountTokens ?? standaloneServiceAccountTokenManager;
    this.mounter = options.mounter ?? nodeTmpfsMounter;
    this.logger = (options.logger ?? noopLogger).child({ component: 'volumes' });
    this.plugins = options.volumePlugins ?? [];
  }

  /** Whether any volume plugin is configured (pods may then have plugin mounts to tear down). */
  get hasVolumePlugins(): boolean {
    return this.plugins.length > 0;
  }

  /** The plugin that sets up this volume, if any (never for the sources handled here). */
  pluginFor(pod: k8s.Pod, volume: k8s.Volume): PodVolumePlugin | undefined {
    const kind = volumeSourceKind(volume);
    if (
      kind === 'emptyDir' ||
      kind === 'hostPath' ||
      kind === 'configMap' ||
      kind === 'secret' ||
      kind === 'downwardAPI' ||
      kind === 'projected'
    )
      return undefined;
    return this.plugins.find((p) => p.canSupport(pod, volume));
  }

  /**
   * Host paths of the pod's plugin volumes set up so far, by volume name (they cannot be
   * computed from the spec alone: a claim's directory is named after its PV).
   */
  delegatedVolumePaths(podDir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, mounted] of this.delegated.get(podDir) ?? []) out[name] = mounted.path;
    return out;
  }

  /**
   * The payload of one API-backed volume, read now through the managers.
   * @throws the manager's NotFoundError (`configmap "x" not found`) for a missing,
   *   non-optional object; NotFoundError for a missing listed key; InvalidArgumentError
   *   for a bad path or mode; the token manager's error for a serviceAccountToken projection;
   *   several at once as an AggregateVolumeError (projected volumes).
   */
  async payload(pod: k8s.Pod, volume: k8s.Volume, ctx: DownwardApiContext): Promise<VolumePayload> {
    const namespace = pod.metadata?.namespace || 'default';
    if (volume.configMap) {
      const src = volume.configMap;
      const cm = await this.getConfigMap(namespace, src.name ?? '', src.optional);
      return makeConfigMapPayload(
        src.items,
        cm,
        src.defaultMode ?? defaultVolumeFileMode,
        src.optional === true,
      );
    }
    if (volume.secret) {
      const src = volume.secret;
      const secret = await this.getSecret(namespace, src.secretName ?? '', src.optional);
      return makeSecretPayload(
        src.items,
        secret,
        src.defaultMode ?? defaultVolumeFileMode,
        src.optional === true,
      );
    }
    if (volume.downwardAPI) {
      const src = volume.downwardAPI;
      return collectDownwardApiPayload(
        src.items,
        pod,
        ctx,
        src.defaultMode ?? defaultVolumeFileMode,
      );
    }
    if (volume.projected) return this.projectedPayload(pod, volume.projected, ctx, namespace);
    throw new UnsupportedVolumeSourceError(volume.name, volumeSourceKind(volume));
  }

  private async projectedPayload(
    pod: k8s.Pod,
    source: k8s.ProjectedVolumeSource,
    ctx: DownwardApiContext,
    namespace: string,
  ): Promise<VolumePayload> {
    const defaultMode = source.defaultMode ?? defaultVolumeFileMode;
    const payload: VolumePayload = new Map();
    const errors: Error[] = [];
    for (const projection of source.sources ?? []) {
      try {
        let part: VolumePayload;
        if (projection.secret) {
          const src = projection.secret;
          const secret = await this.getSecret(namespace, src.name ?? '', src.optional);
          part = makeSecretPayload(src.items, secret, defaultMode, src.optional === true);
        } else if (projection.configMap) {
          const src = projection.configMap;
          const cm = await this.getConfigMap(namespace, src.name ?? '', src.optional);
          part = makeConfigMapPayload(src.items, cm, defaultMode, src.optional === true);
        } else if (projection.downwardAPI) {
          part = collectDownwardApiPayload(projection.downwardAPI.items, pod, ctx, defaultMode);
        } else if (projection.serviceAccountToken) {
          part = await this.serviceAccountTokenPayload(
            pod,
            projection.serviceAccountToken,
            defaultMode,
            namespace,
          );
        } else {
          continue;
        }
        for (const [k, v] of part) payload.set(k, v);
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    throwAggregateVolumeErrors(errors);
    return payload;
  }

  /**
   * Kubelet projected `collectData` for a token source: a token of the pod's
   * ServiceAccount for the source's audience (none: the API server's) and
   * `expirationSeconds` (API default 3600), bound to the pod by name and uid.
   */
  private async serviceAccountTokenPayload(
    pod: k8s.Pod,
    source: k8s.ServiceAccountTokenProjection,
    defaultMode: number,
    namespace: string,
  ): Promise<VolumePayload> {
    const status = await this.tokens.getServiceAccountToken(
      namespace,
      // Admission always sets it on an API pod; `default` is what it would set.
      pod.spec?.serviceAccountName || 'default',
      {
        ...(source.audience ? { audiences: [source.audience] } : {}),
        expirationSeconds: source.expirationSeconds ?? 3600,
        boundObjectRef: {
          apiVersion: 'v1',
          kind: 'Pod',
          name: pod.metadata?.name ?? '',
          uid: pod.metadata?.uid ?? '',
        },
      },
    );
    return makeServiceAccountTokenPayload(source.path, status.token, defaultMode, {
      fsUser: projectedTokenFsUser(pod),
      fsGroup: podFsGroup(pod)?.fsGroup,
    });
  }

  private async getConfigMap(
    namespace: string,
    name: string,
    optional: boolean | undefined,
  ): Promise<k8s.ConfigMap> {
    try {
      return await this.configMaps.getConfigMap(namespace, name);
    } catch (err) {
      if (optional && isNodeAgentError(err, 'NotFound')) return { metadata: { name, namespace } };
      throw err;
    }
  }

  private async getSecret(
    namespace: string,
    name: string,
    optional: boolean | undefined,
  ): Promise<k8s.Secret> {
    try {
      return await this.secrets.getSecret(namespace, name);
    } catch (err) {
      if (optional && isNodeAgentError(err, 'NotFound')) return { metadata: { name, namespace } };
      throw err;
    }
  }

  /**
   * Sets up (or refreshes) one API-backed volume of the pod at its host path. The
   * payload is computed before anything touches the disk, so a failure leaves an
   * existing volume as it was. Returns true when the contents changed.
   */
  async setUp(
    pod: k8s.Pod,
    podDir: string,
    volume: k8s.Volume,
    ctx: DownwardApiContext,
  ): Promise<boolean> {
    const plugin = this.pluginFor(pod, volume);
    if (plugin) {
      // Plugins are idempotent and called on every sync (core PodVolumePlugin contract).
      const mounted = await plugin.setUp(pod, volume);
      let byName = this.delegated.get(podDir);
      if (!byName) this.delegated.set(podDir, (byName = new Map<string, MountedVolume>()));
      const before = byName.get(volume.name);
      byName.set(volume.name, mounted);
      return before?.path !== mounted.path;
    }
    const dir = volumeHostPath(podDir, volume);
    const kind = volumeSourceKind(volume);
    if (
      dir === undefined ||
      !(kind === 'configMap' || kind === 'secret' || kind === 'downwardAPI' || kind === 'projected')
    ) {
      throw new UnsupportedVolumeSourceError(volume.name, kind);
    }
    const payload = await this.payload(pod, volume, ctx);
    // kubelet SetVolumeOwnership: with an fsGroup, the files are group-readable by it.
    const owner = podFsGroup(pod);
    if (owner) {
      for (const file of payload.values()) file.mode = fsGroupFileMode(file.mode, true);
    }
    await mkdir(dir, { recursive: true, mode: 0o750 });
    if (isMemoryBackedVolume(volume) && !this.prepared.has(dir)) {
      const points = await this.mounter.mountPointsUnder(dir);
      if (points.includes(dir)) {
        this.prepared.add(dir); // mounted before an agent restart
      } else {
        try {
          await this.mounter.mountTmpfs(dir);
          this.prepared.add(dir);
        } catch (err) {
          this.logger.warn('Could not mount a tmpfs for the volume; writing it to disk', {
            pod: `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`,
            volume: volume.name,
            error: err instanceof Error ? err.message : String(err),
          });
          this.options.onTmpfsFallback?.(pod, volume.name, err);
          // Do not try again on every sync: the volume now has its data on disk.
          this.prepared.add(dir);
        }
      }
    }
    // Traversable by any container user (the kubelet's wrapped emptyDir is 0777; the
    // files are read-only mounts anyway, so 0755 is enough and safer).
    await chmod(dir, owner ? 0o755 | fsGroupReadOnlyMask | fsGroupDirectoryMask : 0o755);
    // Files with an owner (a projected token's fsUser) are given to it first, as the
    // kubelet's atomic writer does, before the fsGroup ownership below.
    const owned = [...payload].filter(([, f]) => f.fsUser !== undefined);
    const setPerms =
      owner || owned.length > 0
        ? async (tsDir: string): Promise<void> => {
            for (const [path, f] of owned) await lchown(join(tsDir, path), f.fsUser ?? -1, -1);
            // The whole volume, as the kubelet walks it (the new timestamped directory included).
            if (owner) await setVolumeOwnership(dir, owner.fsGroup, { readOnly: true });
          }
        : undefined;
    return new AtomicWriter(dir, this.options.clock).write(payload, setPerms);
  }

  /**
   * Gives a writable local volume (an emptyDir, set up once) to the pod's fsGroup, as
   * the kubelet's emptyDir plugin does after creating it (`SetVolumeOwnership`): group
   * `fsGroup`, setgid, read-write for the group. Nothing when the pod has no fsGroup.
   */
  async applyPodFsGroup(pod: k8s.Pod, dir: string): Promise<void> {
    const owner = podFsGroup(pod);
    if (owner)
      await setVolumeOwnership(dir, owner.fsGroup, { readOnly: false, policy: owner.policy });
  }

  /**
   * An emptyDir with `medium: Memory` (kubelet emptydir `setupTmpfs`): a tmpfs of
   * `sizeBytes` on `dir`, world-writable (0777) like every emptyDir. A tmpfs already
   * mounted there (before an agent restart) is kept. Unlike the agent's own tmpfs
   * volumes there is no fallback to disk: a failed mount fails the volume.
   */
  async setUpMemoryEmptyDir(dir: string, sizeBytes: number | undefined): Promise<void> {
    await mkdir(dir, { recursive: true });
    const points = await this.mounter.mountPointsUnder(dir);
    if (!points.includes(dir)) {
      await this.mounter.mountTmpfs(dir, sizeBytes !== undefined ? { sizeBytes } : {});
    }
    await chmod(dir, 0o777);
  }

  /**
   * Unmounts every mount below `<podDir>/volumes` (deepest first) — including ones
   * made before an agent restart — so the pod directory can be removed. Returns the
   * mount points that are still mounted (unmount failed); the caller must not remove
   * the pod directory while there are any. With `pod`, every volume plugin first tears
   * down its volumes of the pod (`tearDownPod`); a plugin failure is thrown.
   */
  async tearDown(podDir: string, pod?: k8s.Pod): Promise<string[]> {
    const volumesDir = join(podDir, 'volumes');
    // Plugin volumes first, through their plugins (CSI NodeUnpublish/NodeUnstage):
    // their mounts must never be unmounted behind the driver's back below. Every
    // plugin is asked (a pod adopted after a restart may have mounts its spec does
    // not tell); a failure throws and the worker retries the cleanup.
    if (pod && this.plugins.length > 0) {
      for (const plugin of this.plugins) await plugin.tearDownPod(pod);
      this.delegated.delete(podDir);
    }
    // kubelet DeleteServiceAccountToken: the pod's tokens leave the cache with it.
    if (pod?.metadata?.uid) this.tokens.deleteServiceAccountToken(pod.metadata.uid);
    const points = await this.mounter.mountPointsUnder(volumesDir);
    for (const point of points) {
      try {
        await this.mounter.unmount(point);
      } catch (err) {
        this.logger.warn('Could not unmount a pod volume', {
          path: point,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    for (const dir of [...this.prepared])
      if (dir.startsWith(`${volumesDir}/`)) this.prepared.delete(dir);
    return points.length === 0 ? [] : this.mounter.mountPointsUnder(volumesDir);
  }

  /**
   * Whether the volume was set up before (its `..data` link exists), by this process or
   * an earlier one: a refresh that fails then leaves the old contents in place and does
   * not hold the pod back (kubelet: only unmounted volumes block a pod's start).
   */
  async isSetUp(podDir: string, volume: k8s.Volume): Promise<boolean> {
    if (this.delegated.get(podDir)?.has(volume.name)) return true;
    const dir = volumeHostPath(podDir, volume);
    if (dir === undefined) return false;
    try {
      await lstat(join(dir, atomicWriterDataDir));
      return true;
    } catch {
      return false;
    }
  }
}
