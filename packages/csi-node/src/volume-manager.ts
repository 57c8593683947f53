import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  CancelledError,
  DeadlineExceededError,
  ErrorCode,
  FailedPreconditionError,
  NodeAgentError,
  NotFoundError,
  isNodeAgentError,
  noopLogger,
  type Clock,
  type Logger,
} from '@nodeagent/core';
import type { CsiDriverRegistry, CsiNodeClient, VolumeCapability } from './types.js';
import {
  attachmentName,
  stagingTargetPath,
  publishTargetPath,
  validatePathElement,
  validateVolumeHandle,
  volDataFileName,
  writeVolData,
  type VolumeLifecycleMode,
} from './vol-data.js';
import { loadCsiVolumeState } from './reconstruct.js';

/** The kubelet's `csiTimeout` for every CSI call of the volume manager: 2 minutes. */
export const defaultCsiOperationTimeoutMs = 120_000;

/**
 * Everything the volume manager needs to stage and publish one pod volume (the
 * kubelet's `volume.Spec` after resolving a PVC to its PV, with secrets read).
 */
export interface CsiVolumeSpec {
  /** The volume's name in the pod spec. */
  podVolumeName: string;
  /** Spec volume id: the pod volume name (inline) or the PV name; the pod's volume directory name. */
  specVolId: string;
  driverName: string;
  /** CSI volume id: PV `spec.csi.volumeHandle`, or `csi-<sha256(podUID+volume)>` inline. */
  volumeHandle: string;
  lifecycleMode: VolumeLifecycleMode;
  /** Publish read-only. */
  readOnly: boolean;
  /** File system type, `''` for the driver's default. */
  fsType: string;
  /** Volume context (`volumeAttributes`). */
  volumeContext: Record<string, string>;
  /** PV `mountOptions` (CSI `mount_flags`). */
  mountOptions: readonly string[];
  /** Kubernetes access mode (`ReadWriteOnce` for inline volumes). */
  accessMode: string;
  /** Contents of `nodePublishSecretRef` (plain text). */
  publishSecrets: Record<string, string>;
  /** Contents of `nodeStageSecretRef` (plain text). */
  stageSecrets: Record<string, string>;
}

/**
 * Whether a path is a mount point (the volume manager never removes a directory that
 * still has something mounted on it).
 */
export interface MountPointChecker {
  isMountPoint(path: string): Promise<boolean>;
}

function unescapeMountInfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Reads `/proc/self/mountinfo` (field 5 is the mount point, octal-escaped). */
export const procMountPointChecker: MountPointChecker = {
  async isMountPoint(path: string): Promise<boolean> {
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    for (const line of text.split('\n')) {
      const point = line.split(' ')[4];
      if (point !== undefined && unescapeMountInfo(point) === path) return true;
    }
    return false;
  },
};

/** Options of {@link CsiVolumeManager}. */
export interface CsiVolumeManagerOptions {
  /** The agent's root directory (kubelet `--root-dir`, /var/lib/kubelet). */
  rootDir: string;
  /** This node's name (recorded in `vol_data.json`). */
  nodeName: string;
  /** The registered CSI drivers. */
  drivers: CsiDriverRegistry;
  clock: Clock;
  logger?: Logger;
  /**
   * Upper bound of each CSI call in ms (kubelet `csiTimeout`, default 2 min). A driver
   * that does not answer in time fails the operation with DeadlineExceededError, even
   * when the client ignores the AbortSignal; the volume is then "uncertain" and is
   * unpublished/unstaged on teardown.
   */
  operationTimeoutMs?: number;
  /** Mount point checks; `/proc/self/mountinfo` by default. */
  mounts?: MountPointChecker;
  /**
   * Whether inline ephemeral volumes are staged too when the driver has
   * STAGE_UNSTAGE_VOLUME. Default true: the CSI spec requires `staging_target_path` in
   * NodePublishVolume whenever the plugin has that capability, and strict drivers
   * (the testkit driver among them) refuse a publish without it. `false` is the
   * kubelet's exact behaviour (`CanDeviceMount` is false for inline volumes: they are
   * published only).
   */
  stageEphemeralVolumes?: boolean;
}

/** State of a staged or published volume (kubelet actual state of world). */
export type CsiMountState = 'mounted' | 'uncertain';

/** One volume published for one pod. */
export interface PublishedCsiVolume {
  podUid: string;
  specVolId: string;
  driverName: string;
  volumeHandle: string;
  /** `<root>/pods/<uid>/volumes/kubernetes.io~csi/<specVolId>/mount`. */
  targetPath: string;
  /** The staging path passed to NodePublishVolume, when the volume was staged. */
  stagingPath?: string;
  /** `uncertain`: a publish timed out or the state was read from disk without a mount seen. */
  state: CsiMountState;
}

/** One volume staged on the node. */
export interface StagedCsiVolume {
  driverName: string;
  volumeHandle: string;
  /** `<root>/plugins/kubernetes.io/csi/<driver>/<sha256(handle)>/globalmount`. */
  stagingPath: string;
  state: CsiMountState;
}

/** What {@link CsiVolumeManager.reconstruct} did. */
export interface CsiReconstructResult {
  /** Published volumes kept because a desired pod has them. */
  kept: PublishedCsiVolume[];
  /** Target paths unpublished because no desired pod needs them. */
  unpublished: string[];
  /** Staging paths unstaged because no published volume uses them. */
  unstaged: string[];
  /** Clean-up failures (kept in the state; retried by the pod's teardown). */
  errors: Error[];
}

/** kubelet `isFinalError`: these codes leave the volume's state uncertain. */
const nonFinalCodes: ReadonlySet<string> = new Set([
  ErrorCode.Cancelled,
  ErrorCode.DeadlineExceeded,
  ErrorCode.Unavailable,
  ErrorCode.ResourceExhausted,
  ErrorCode.Aborted,
]);

function isFinalError(err: unknown): boolean {
  return !(isNodeAgentError(err) && nonFinalCodes.has(err.code));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Wraps a driver error, keeping its code: `NodePublishVolume failed: <message>`. */
function operationError(operation: string, err: unknown): Error {
  const code = isNodeAgentError(err) ? err.code : ErrorCode.Unknown;
  return new NodeAgentError(code, `${operation} failed: ${messageOf(err)}`, {
    cause: err,
    operation: `Node/${operation}`,
  });
}

/**
 * The error the kubelet returns for a volume whose driver is not registered (kubelet
 * `csiDriverClient` wording).
 */
export function driverNotFoundError(driverName: string): NotFoundError {
  return new NotFoundError(
    `driver name ${driverName} not found in the list of registered CSI drivers`,
  );
}

/** Serialises operations per key (kubelet `nestedpendingoperations`: one operation per volume). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

function volumeKey(driverName: string, volumeHandle: string): string {
  return `${driverName}\u0000${volumeHandle}`;
}

/**
 * Maps a Kubernetes access mode to the CSI one (kubelet `asCSIAccessModeV1`, with the
 * SINGLE_NODE_MULTI_WRITER capability).
 */
export function csiAccessMode(
  accessMode: string,
  singleNodeMultiWriter: boolean,
): VolumeCapability['accessMode'] {
  switch (accessMode) {
    case 'ReadWriteOnce':
      return singleNodeMultiWriter ? 'SINGLE_NODE_MULTI_WRITER' : 'SINGLE_NODE_WRITER';
    case 'ReadOnlyMany':
      return 'MULTI_NODE_READER_ONLY';
    case 'ReadWriteMany':
      return 'MULTI_NODE_MULTI_WRITER';
    case 'ReadWriteOncePod':
      return singleNodeMultiWriter ? 'SINGLE_NODE_SINGLE_WRITER' : 'SINGLE_NODE_WRITER';
    default:
      return 'UNKNOWN';
  }
}

/**
 * The CSI part of the kubelet's volume manager: stages persistent volumes once per
 * node (kubelet `csiAttacher.MountDevice` → NodeStageVolume, when the driver has
 * STAGE_UNSTAGE_VOLUME) and publishes them per pod (`csiMountMgr.SetUpAt` →
 * NodePublishVolume), writing `vol_data.json` beside each; on pod teardown it
 * unpublishes (`TearDownAt`) and unstages a volume no published pod uses any more
 * (`UnmountDevice`). Inline ephemeral volumes are staged too (per volume, so per pod)
 * unless `stageEphemeralVolumes` is false — see that option for why this differs from
 * the kubelet by default.
 *
 * State lives in memory and is loaded from the `vol_data.json` files on disk on first
 * use, so a restarted agent unpublishes and unstages what an earlier run mounted;
 * {@link reconstruct} additionally cleans up everything no desired pod needs.
 * Operations on one volume are serialised; each CSI call is bounded by
 * `operationTimeoutMs`.
 */
export class CsiVolumeManager {
  private readonly logger: Logger;
  private readonly mounts: MountPointChecker;
  private readonly timeoutMs: number;
  private readonly mutex = new KeyedMutex();
  /** Published volumes by target path. */
  private readonly published = new Map<string, PublishedCsiVolume>();
  /** Staged volumes by staging path. */
  private readonly staged = new Map<string, StagedCsiVolume>();
  private loaded: Promise<void> | undefined;

  constructor(private readonly options: CsiVolumeManagerOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'csi-volumes' });
    this.mounts = options.mounts ?? procMountPointChecker;
    this.timeoutMs = options.operationTimeoutMs ?? defaultCsiOperationTimeoutMs;
  }

  /** Published volumes (all, or one pod's). */
  publishedVolumes(podUid?: string): PublishedCsiVolume[] {
    return [...this.published.values()]
      .filter((p) => podUid === undefined || p.podUid === podUid)
      .map((p) => ({ ...p }));
  }

  /** Staged volumes. */
  stagedVolumes(): StagedCsiVolume[] {
    return [...this.staged.values()].map((s) => ({ ...s }));
  }

  /** Loads the on-disk state once (first operation). */
  private ensureLoaded(): Promise<void> {
    this.loaded ??= (async () => {
      const state = await loadCsiVolumeState(this.options.rootDir, this.mounts, this.logger);
      for (const s of state.staged)
        if (!this.staged.has(s.stagingPath)) this.staged.set(s.stagingPath, s);
      for (const p of state.published) {
        if (this.published.has(p.targetPath)) continue;
        const staging = stagingTargetPath(this.options.rootDir, p.driverName, p.volumeHandle);
        this.published.set(
          p.targetPath,
          this.staged.has(staging) ? { ...p, stagingPath: staging } : p,
        );
      }
    })().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private client(driverName: string): CsiNodeClient {
    const client = this.options.drivers.get(driverName);
    if (!client) throw driverNotFoundError(driverName);
    return client;
  }

  /**
   * Runs one CSI call bounded by the operation timeout and the caller's signal; the
   * call's own signal is aborted when either ends it. Time runs on the injected clock.
   */
  private async call<T>(
    operation: string,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ctl = new AbortController();
    let fail!: (err: Error) => void;
    const ended = new Promise<never>((_resolve, reject) => {
      fail = reject;
    });
    const end = (err: Error): void => {
      ctl.abort(err);
      fail(err);
    };
    const timer = this.options.clock.setTimeout(
      () =>
        end(
          new DeadlineExceededError(
            `${operation}: the CSI driver did not answer within ${this.timeoutMs} ms`,
            { operation: `Node/${operation}` },
          ),
        ),
      this.timeoutMs,
    );
    const onAbort = (): void =>
      end(new CancelledError(`${operation}: cancelled`, { operation: `Node/${operation}` }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([fn(ctl.signal), ended]);
    } finally {
      timer.cancel();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Makes the volume ready for the pod and returns the published path (the `mount`
   * directory). Idempotent: a volume already published (and not uncertain) returns at
   * once without calling the driver.
   * @throws InvalidArgumentError for a bad handle/name (nothing is touched);
   *   NotFoundError when the driver is not registered; the driver's error (its code
   *   kept, `NodeStageVolume failed: …` / `NodePublishVolume failed: …`);
   *   DeadlineExceededError when the driver did not answer in time.
   */
  async publish(podUid: string, spec: CsiVolumeSpec, signal?: AbortSignal): Promise<string> {
    validateVolumeHandle(spec.volumeHandle);
    validatePathElement('CSI driver name', spec.driverName);
    validatePathElement('volume name', spec.specVolId);
    validatePathElement('pod UID', podUid);
    const client = this.client(spec.driverName);
    await this.ensureLoaded();
    const { rootDir, nodeName } = this.options;
    const target = publishTargetPath(rootDir, podUid, spec.specVolId);
    return this.mutex.run(volumeKey(spec.driverName, spec.volumeHandle), async () => {
      const existing = this.published.get(target);
      if (existing && existing.volumeHandle !== spec.volumeHandle) {
        throw new FailedPreconditionError(
          `${target} is already published for volume handle ${existing.volumeHandle}`,
        );
      }
      if (existing?.state === 'mounted') return target;
      const caps = await this.call('NodeGetCapabilities', signal, (s) =>
        client.nodeGetCapabilities(s),
      );
      const capability: VolumeCapability = {
        mount: {
          ...(spec.fsType ? { fsType: spec.fsType } : {}),
          ...(spec.mountOptions.length > 0 ? { mountFlags: [...spec.mountOptions] } : {}),
        },
        accessMode: csiAccessMode(spec.accessMode, caps.singleNodeMultiWriter),
      };
      const volData = {
        specVolID: spec.specVolId,
        volumeHandle: spec.volumeHandle,
        driverName: spec.driverName,
        nodeName,
        attachmentID: attachmentName(spec.volumeHandle, spec.driverName, nodeName),
        volumeLifecycleMode: spec.lifecycleMode,
      };

      let staging: string | undefined;
      const stageable =
        spec.lifecycleMode === 'Persistent' || this.options.stageEphemeralVolumes !== false;
      if (stageable && caps.stageUnstage) {
        staging = stagingTargetPath(rootDir, spec.driverName, spec.volumeHandle);
        if (this.staged.get(staging)?.state !== 'mounted') {
          await mkdir(staging, { recursive: true, mode: 0o750 });
          await writeVolData(dirname(staging), volData);
          this.staged.set(staging, {
            driverName: spec.driverName,
            volumeHandle: spec.volumeHandle,
            stagingPath: staging,
            state: 'uncertain',
          });
          try {
            await this.call('NodeStageVolume', signal, (s) =>
              client.nodeStageVolume(
                {
                  volumeId: spec.volumeHandle,
                  publishContext: {},
                  stagingTargetPath: staging ?? '',
                  volumeCapability: capability,
                  secrets: spec.stageSecrets,
                  volumeContext: spec.volumeContext,
                },
                s,
              ),
            );
          } catch (err) {
            if (isFinalError(err)) {
              this.staged.delete(staging);
              await this.removeMountDir(staging).catch(() => undefined);
            }
            throw operationError('NodeStageVolume', err);
          }
          const entry = this.staged.get(staging);
          if (entry) entry.state = 'mounted';
          this.logger.info('Staged CSI volume', {
            driver: spec.driverName,
            volumeHandle: spec.volumeHandle,
            stagingPath: staging,
          });
        }
      }

      // kubelet: the CO creates the target's parent; the driver creates the target.
      await mkdir(dirname(target), { recursive: true, mode: 0o750 });
      await writeVolData(dirname(target), volData);
      this.published.set(target, {
        podUid,
        specVolId: spec.specVolId,
        driverName: spec.driverName,
        volumeHandle: spec.volumeHandle,
        targetPath: target,
        ...(staging ? { stagingPath: staging } : {}),
        state: 'uncertain',
      });
      try {
        await this.call('NodePublishVolume', signal, (s) =>
          client.nodePublishVolume(
            {
              volumeId: spec.volumeHandle,
              publishContext: {},
              ...(staging ? { stagingTargetPath: staging } : {}),
              targetPath: target,
              volumeCapability: capability,
              readonly: spec.readOnly,
              secrets: spec.publishSecrets,
              volumeContext: spec.volumeContext,
            },
            s,
          ),
        );
      } catch (err) {
        if (isFinalError(err)) {
          // kubelet: an operation that finished with an error leaves nothing mounted.
          this.published.delete(target);
          await this.removeMountDir(target).catch(() => undefined);
        }
        throw operationError('NodePublishVolume', err);
      }
      const entry = this.published.get(target);
      if (entry) entry.state = 'mounted';
      this.logger.info('Published CSI volume', {
        podUid,
        volume: spec.podVolumeName,
        driver: spec.driverName,
        targetPath: target,
      });
      return target;
    });
  }

  /**
   * Unpublishes every CSI volume of the pod (NodeUnpublishVolume, then removes the
   * `mount` directory, `vol_data.json` and the volume directory) and unstages the
   * volumes no pod uses any more. Idempotent.
   * @throws the first failure (with the count of others) when something could not be
   *   cleaned up; what succeeded stays done, the rest is retried on the next call.
   */
  async unpublishPod(podUid: string, signal?: AbortSignal): Promise<void> {
    await this.ensureLoaded();
    const errors: Error[] = [];
    for (const entry of this.publishedVolumes(podUid)) {
      try {
        await this.mutex.run(volumeKey(entry.driverName, entry.volumeHandle), () =>
          this.unpublishOne(entry, signal),
        );
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    await this.unstageUnused(errors, signal);
    await rmdir(join(this.options.rootDir, 'pods', podUid, 'volumes', 'kubernetes.io~csi')).catch(
      () => undefined,
    );
    if (errors.length > 0) {
      const first = errors[0] as Error;
      throw new NodeAgentError(
        isNodeAgentError(first) ? first.code : ErrorCode.Unknown,
        errors.length === 1
          ? first.message
          : `${first.message} (and ${errors.length - 1} more CSI clean-up failures)`,
        { cause: first },
      );
    }
  }

  private async unpublishOne(entry: PublishedCsiVolume, signal?: AbortSignal): Promise<void> {
    if (!this.published.has(entry.targetPath)) return;
    const client = this.client(entry.driverName);
    try {
      await this.call('NodeUnpublishVolume', signal, (s) =>
        client.nodeUnpublishVolume(
          { volumeId: entry.volumeHandle, targetPath: entry.targetPath },
          s,
        ),
      );
    } catch (err) {
      throw operationError('NodeUnpublishVolume', err);
    }
    await this.removeMountDir(entry.targetPath);
    this.published.delete(entry.targetPath);
    this.logger.info('Unpublished CSI volume', {
      podUid: entry.podUid,
      driver: entry.driverName,
      targetPath: entry.targetPath,
    });
  }

  /** Unstages staged volumes that no published volume uses (kubelet reconciler `UnmountDevice`). */
  private async unstageUnused(errors: Error[], signal?: AbortSignal): Promise<string[]> {
    const done: string[] = [];
    for (const st of [...this.staged.values()]) {
      try {
        const unstaged = await this.mutex.run(
          volumeKey(st.driverName, st.volumeHandle),
          async () => {
            if (!this.staged.has(st.stagingPath)) return false;
            const users = [...this.published.values()].some(
              (p) => p.driverName === st.driverName && p.volumeHandle === st.volumeHandle,
            );
            if (users) return false;
            const client = this.client(st.driverName);
            try {
              await this.call('NodeUnstageVolume', signal, (s) =>
                client.nodeUnstageVolume(
                  { volumeId: st.volumeHandle, stagingTargetPath: st.stagingPath },
                  s,
                ),
              );
            } catch (err) {
              throw operationError('NodeUnstageVolume', err);
            }
            await this.removeMountDir(st.stagingPath);
            this.staged.delete(st.stagingPath);
            this.logger.info('Unstaged CSI volume', {
              driver: st.driverName,
              volumeHandle: st.volumeHandle,
              stagingPath: st.stagingPath,
            });
            return true;
          },
        );
        if (unstaged) done.push(st.stagingPath);
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return done;
  }

  /**
   * Removes a mount directory the driver has unmounted, its `vol_data.json` and its
   * parent (kubelet `removeMountDir`); never recursively, never through a mount.
   * @throws FailedPreconditionError when the directory is still a mount point.
   */
  private async removeMountDir(path: string): Promise<void> {
    if (await this.mounts.isMountPoint(path)) {
      throw new FailedPreconditionError(`${path} is still mounted after the CSI driver's call`);
    }
    await rmdir(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    const parent = dirname(path);
    await rm(join(parent, volDataFileName), { force: true });
    await rmdir(parent).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * Reconstruction after an agent restart (kubelet volume manager
   * `reconstructVolumes` + reconciler clean-up): loads the `vol_data.json` state from
   * disk, keeps the volumes of desired pods (their next set-up returns at once when the
   * mount is still there, and re-publishes when it is not), unpublishes the volumes of
   * every other pod and unstages what is then unused. Never throws for clean-up
   * failures: they are returned, and the entries stay for the pods' teardown.
   *
   * Call once at agent start, after the CSI drivers had a chance to register and
   * before pod workers start; `desiredPodUids` are the UIDs of every pod the sources
   * (and the checkpoint) still want on this node.
   */
  async reconstruct(
    desiredPodUids: Iterable<string>,
    signal?: AbortSignal,
  ): Promise<CsiReconstructResult> {
    await this.ensureLoaded();
    const desired = new Set(desiredPodUids);
    const errors: Error[] = [];
    const kept: PublishedCsiVolume[] = [];
    const unpublished: string[] = [];
    const orphanPods = new Set<string>();
    for (const entry of this.publishedVolumes()) {
      if (desired.has(entry.podUid)) {
        kept.push(entry);
        continue;
      }
      orphanPods.add(entry.podUid);
      try {
        await this.mutex.run(volumeKey(entry.driverName, entry.volumeHandle), () =>
          this.unpublishOne(entry, signal),
        );
        unpublished.push(entry.targetPath);
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    const unstaged = await this.unstageUnused(errors, signal);
    for (const uid of orphanPods) {
      await rmdir(join(this.options.rootDir, 'pods', uid, 'volumes', 'kubernetes.io~csi')).catch(
        () => undefined,
      );
    }
    for (const err of errors)
      this.logger.warn('CSI volume reconstruction could not clean up', { error: err.message });
    return { kept, unpublished, unstaged, errors };
  }

  /** Usage of one published volume through NodeGetVolumeStats (undefined when the driver lacks GET_VOLUME_STATS). */
  async volumeUsage(
    entry: Pick<PublishedCsiVolume, 'driverName' | 'volumeHandle' | 'targetPath' | 'stagingPath'>,
    signal?: AbortSignal,
  ): Promise<Awaited<ReturnType<CsiNodeClient['nodeGetVolumeStats']>> | undefined> {
    const client = this.client(entry.driverName);
    const caps = await this.call('NodeGetCapabilities', signal, (s) =>
      client.nodeGetCapabilities(s),
    );
    if (!caps.getVolumeStats) return undefined;
    return this.call('NodeGetVolumeStats', signal, (s) =>
      client.nodeGetVolumeStats(
        {
          volumeId: entry.volumeHandle,
          volumePath: entry.targetPath,
          ...(entry.stagingPath ? { stagingTargetPath: entry.stagingPath } : {}),
        },
        s,
      ),
    );
  }
}

/** Creates a {@link CsiVolumeManager}. */
export function createCsiVolumeManager(options: CsiVolumeManagerOptions): CsiVolumeManager {
  return new CsiVolumeManager(options);
}
