import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '@nodeagent/core';

/** The kubelet's CSI volume plugin name. */
export const csiPluginName = 'kubernetes.io/csi';
/** `csiPluginName` escaped for a directory name (kubelet `EscapeQualifiedName`: `/` → `~`). */
export const csiPluginDirName = 'kubernetes.io~csi';
/** Name of the file the kubelet keeps beside every CSI mount (kubelet `volDataFileName`). */
export const volDataFileName = 'vol_data.json';
/** Last path element of a staged volume (kubelet `globalMountInGlobalPath`). */
export const globalMountDirName = 'globalmount';
/** Last path element of a published volume (kubelet `GetCSIMounterPath`). */
export const publishMountDirName = 'mount';

/** How a CSI volume is used (storage/v1 `VolumeLifecycleMode`). */
export type VolumeLifecycleMode = 'Persistent' | 'Ephemeral';

/**
 * The contents of `vol_data.json` (kubelet `volDataKey`): written beside a pod's
 * `mount` directory before NodePublishVolume, and beside `globalmount` before
 * NodeStageVolume, so the volume can be unpublished/unstaged after an agent restart
 * without its spec. Keys and values are the kubelet's (all strings).
 */
export interface VolData {
  /** The spec's volume name: the pod volume name (inline) or the PV name. */
  specVolID: string;
  /** The CSI volume id. */
  volumeHandle: string;
  driverName: string;
  nodeName: string;
  /** `csi-<sha256(volumeHandle + driver + nodeName)>` (kubelet `getAttachmentName`). */
  attachmentID: string;
  volumeLifecycleMode: VolumeLifecycleMode;
}

/** The parts of a {@link VolData} written beside `globalmount` (kubelet `MountDevice`). */
export type StagingVolData = Pick<VolData, 'volumeHandle' | 'driverName'> & Partial<VolData>;

function hex256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * The volume handle the kubelet gives an inline ephemeral CSI volume:
 * `csi-<sha256(podUID + volumeName)>` (kubelet `makeVolumeHandle`).
 */
export function makeEphemeralVolumeHandle(podUid: string, volumeName: string): string {
  return `csi-${hex256(`${podUid}${volumeName}`)}`;
}

/** kubelet `getAttachmentName`: `csi-<sha256(volumeHandle + driverName + nodeName)>`. */
export function attachmentName(volumeHandle: string, driverName: string, nodeName: string): string {
  return `csi-${hex256(`${volumeHandle}${driverName}${nodeName}`)}`;
}

/** kubelet `EscapeQualifiedName`: `/` becomes `~` so a name is one path element. */
export function escapeQualifiedName(name: string): string {
  return name.replaceAll('/', '~');
}

/** True when `s` has a control character (U+0000–U+001F, U+007F). */
function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * Refuses a volume handle that cannot be used safely: empty, longer than 128 bytes
 * (the CSI spec's limit a CO must support), or with path characters (`/`, `\`), `..`
 * or control characters. The handle itself never becomes a path (staging paths use its
 * SHA-256), but such handles are a sign of a broken or hostile spec, and drivers
 * commonly use the handle as a directory name.
 * @throws InvalidArgumentError naming the problem.
 */
export function validateVolumeHandle(handle: string): void {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`invalid CSI volume handle ${JSON.stringify(handle)}: ${why}`);
  };
  if (handle === '') bad('empty');
  if (Buffer.byteLength(handle) > 128) bad('longer than 128 bytes');
  if (handle.includes('/') || handle.includes('\\')) bad('contains a path separator');
  if (handle.includes('..')) bad('contains ".."');
  if (hasControlChars(handle)) bad('contains control characters');
}

/**
 * Refuses a name that becomes one path element (driver name, spec volume name):
 * empty, `.`, `..`, or containing `/`, `\` or control characters.
 * @throws InvalidArgumentError
 */
export function validatePathElement(what: string, name: string): void {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\\') ||
    hasControlChars(name)
  ) {
    throw new InvalidArgumentError(
      `invalid ${what} ${JSON.stringify(name)}: not a valid path element`,
    );
  }
}

/**
 * Where a persistent CSI volume is staged (kubelet `makeDeviceMountPath`):
 * `<rootDir>/plugins/kubernetes.io/csi/<driver>/<sha256(volumeHandle)>/globalmount`.
 */
export function stagingTargetPath(
  rootDir: string,
  driverName: string,
  volumeHandle: string,
): string {
  return join(
    rootDir,
    'plugins',
    csiPluginName,
    driverName,
    hex256(volumeHandle),
    globalMountDirName,
  );
}

/**
 * Where a CSI volume is published for a pod (kubelet `getTargetPath` +
 * `GetCSIMounterPath`): `<rootDir>/pods/<uid>/volumes/kubernetes.io~csi/<specVolID>/mount`.
 */
export function publishTargetPath(rootDir: string, podUid: string, specVolId: string): string {
  return join(
    rootDir,
    'pods',
    podUid,
    'volumes',
    csiPluginDirName,
    escapeQualifiedName(specVolId),
    publishMountDirName,
  );
}

/**
 * Writes `vol_data.json` into `dir` (which must exist), atomically (temp file + rename),
 * mode 0640 like the kubelet's `saveVolumeData`.
 */
export async function writeVolData(dir: string, data: Partial<VolData>): Promise<void> {
  const file = join(dir, volDataFileName);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(data), { mode: 0o640 });
  await rename(tmp, file);
}

/**
 * Reads `vol_data.json` from `dir`; undefined when it is missing or not a JSON object of
 * strings with at least `volumeHandle` and `driverName` (kubelet `loadVolumeData`).
 */
export async function readVolData(dir: string): Promise<Partial<VolData> | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, volDataFileName), 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
  if (!out.volumeHandle || !out.driverName) return undefined;
  return out;
}
