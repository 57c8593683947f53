import { constants, type Stats } from 'node:fs';
import { chmod, mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { k8s } from '@nodeagent/core';
import { InvalidPodSpecError } from './errors.js';

/** Directory of a pod's emptyDir volumes under the pod directory (kubelet plugin dir `kubernetes.io~empty-dir`). */
export const emptyDirPluginDir = 'volumes/kubernetes.io~empty-dir';
/** Directory of a pod's ConfigMap volumes (kubelet plugin `kubernetes.io/configmap`). */
export const configMapPluginDir = 'volumes/kubernetes.io~configmap';
/** Directory of a pod's Secret volumes (kubelet plugin `kubernetes.io/secret`). */
export const secretPluginDir = 'volumes/kubernetes.io~secret';
/** Directory of a pod's downward-API volumes (kubelet plugin `kubernetes.io/downward-api`). */
export const downwardApiPluginDir = 'volumes/kubernetes.io~downward-api';
/** Directory of a pod's projected volumes (kubelet plugin `kubernetes.io/projected`). */
export const projectedPluginDir = 'volumes/kubernetes.io~projected';

/**
 * The volume sources pod-lifecycle sets up itself; others (csi, persistentVolumeClaim,
 * …) go to a configured `PodVolumePlugin`, or fail with FailedMount when none supports them.
 */
export type SupportedVolumeSource =
  'emptyDir' | 'hostPath' | 'configMap' | 'secret' | 'downwardAPI' | 'projected';

/**
 * Which source a volume uses: one of {@link SupportedVolumeSource}, or the name of the
 * (unsupported) source field it sets, e.g. `'csi'`, or `undefined` when it sets none.
 */
export function volumeSourceKind(volume: k8s.Volume): string | undefined {
  for (const kind of [
    'emptyDir',
    'hostPath',
    'configMap',
    'secret',
    'downwardAPI',
    'projected',
  ] as const)
    if (volume[kind]) return kind;
  return Object.keys(volume).find((k) => k !== 'name');
}

/**
 * The host path backing a volume: `<podDir>/volumes/kubernetes.io~<plugin>/<name>` for
 * emptyDir, configMap, secret, downwardAPI and projected volumes, the node path for a
 * hostPath, `undefined` for any other (unsupported) volume source. `podDir` is the
 * kubelet's `<root-dir>/pods/<uid>`. Pure: the caller sets the volume up (emptyDir:
 * directory mode 0777; hostPath: {@link prepareHostPath}; the others: the pod volume manager).
 */
export function volumeHostPath(podDir: string, volume: k8s.Volume): string | undefined {
  if (volume.emptyDir) return join(podDir, emptyDirPluginDir, volume.name);
  if (volume.hostPath) return volume.hostPath.path;
  if (volume.configMap) return join(podDir, configMapPluginDir, volume.name);
  if (volume.secret) return join(podDir, secretPluginDir, volume.name);
  if (volume.downwardAPI) return join(podDir, downwardApiPluginDir, volume.name);
  if (volume.projected) return join(podDir, projectedPluginDir, volume.name);
  return undefined;
}

/**
 * Whether the kubelet mounts the volume read-only into every container whatever the
 * volumeMount says: ConfigMap, Secret, downward-API and projected volumes, and CSI /
 * claim volumes marked `readOnly` (their plugins' `GetAttributes().ReadOnly`).
 */
export function isReadOnlyVolume(volume: k8s.Volume): boolean {
  return !!(
    volume.configMap ||
    volume.secret ||
    volume.downwardAPI ||
    volume.projected ||
    volume.csi?.readOnly ||
    volume.persistentVolumeClaim?.readOnly
  );
}

/** The `hostPath.type` values (core/v1 `HostPathType`); `''` means no check. */
export const hostPathTypes = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
] as const;
/** A `hostPath.type`. */
export type HostPathType = (typeof hostPathTypes)[number];

function failed(path: string, what: string): InvalidPodSpecError {
  return new InvalidPodSpecError('', `hostPath type check failed: ${path} is not ${what}`);
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Checks (and for the `…OrCreate` types creates) a hostPath volume's path on the node,
 * as the kubelet's hostPath plugin does (`checkType`): `DirectoryOrCreate` makes the
 * directory (0755, parents too) if missing, `FileOrCreate` makes an empty file (0644;
 * the parent must exist), `Directory`, `File`, `Socket`, `CharDevice`, `BlockDevice`
 * require an existing path of that kind, `''` checks nothing.
 *
 * @throws InvalidPodSpecError (`hostPath type check failed: <path> is not a directory`, …)
 *   when the check fails or the type is unknown; other I/O errors pass through.
 */
export async function prepareHostPath(type: string, path: string): Promise<void> {
  if (!(hostPathTypes as readonly string[]).includes(type)) {
    throw new InvalidPodSpecError(
      'hostPath.type',
      `${JSON.stringify(type)} is an invalid hostPath type (${hostPathTypes.filter((t) => t).join(', ')})`,
    );
  }
  if (type === '') return;
  const st = await statOrUndefined(path);
  if (!st) {
    if (type === 'DirectoryOrCreate') {
      await mkdir(path, { recursive: true, mode: 0o755 });
      return;
    }
    if (type === 'FileOrCreate') {
      const handle = await open(path, constants.O_CREAT | constants.O_WRONLY, 0o644);
      await handle.close();
      return;
    }
    throw new InvalidPodSpecError('', `hostPath type check failed: ${path} does not exist`);
  }
  switch (type) {
    case 'DirectoryOrCreate':
    case 'Directory':
      if (!st.isDirectory()) throw failed(path, 'a directory');
      return;
    case 'FileOrCreate':
    case 'File':
      if (!st.isFile()) throw failed(path, 'a file');
      return;
    case 'Socket':
      if (!st.isSocket()) throw failed(path, 'a socket file');
      return;
    case 'CharDevice':
      if (!st.isCharacterDevice()) throw failed(path, 'a character device');
      return;
    case 'BlockDevice':
      if (!st.isBlockDevice()) throw failed(path, 'a block device');
      return;
  }
}

/**
 * Where a container instance's termination message file lives on the node (kubelet:
 * `<podDir>/containers/<container>/<random id>`); mount it at the container's
 * `terminationMessagePath` by passing it as `terminationMessageHostPath` to
 * `makeContainerConfig`. `id` should be unique per container instance.
 */
export function terminationMessageFilePath(
  podDir: string,
  containerName: string,
  id: string,
): string {
  return join(podDir, 'containers', containerName, id);
}

/** Creates the (empty, mode 0666) termination message file and its directory, as the kubelet does before CreateContainer. */
export async function prepareTerminationMessageFile(path: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o750 });
  const handle = await open(path, constants.O_CREAT | constants.O_WRONLY, 0o666);
  await handle.close();
  await chmod(path, 0o666);
}
