import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { k8s } from '@nodeagent/core';

/** Permission bits added to files of a read-only volume owned by an fsGroup (kubelet `roMask`). */
export const fsGroupReadOnlyMask = 0o440;
/** Permission bits added to files of a writable volume owned by an fsGroup (kubelet `rwMask`). */
export const fsGroupReadWriteMask = 0o660;
/** Bits added to directories on top of the file mask: setgid and group/other search (kubelet). */
export const fsGroupDirectoryMask = 0o2000 | 0o110;

/**
 * The pod's `securityContext.fsGroup` and `fsGroupChangePolicy` (`Always` unless
 * `OnRootMismatch`), or undefined when the pod sets no fsGroup (then volumes keep
 * their owners, as on a kubelet).
 */
export function podFsGroup(
  pod: k8s.Pod,
): { fsGroup: number; policy: 'Always' | 'OnRootMismatch' } | undefined {
  const sc = pod.spec?.securityContext;
  const fsGroup = sc?.fsGroup;
  if (fsGroup === undefined || !Number.isInteger(fsGroup) || fsGroup < 0) return undefined;
  const policy = (sc as { fsGroupChangePolicy?: string } | undefined)?.fsGroupChangePolicy;
  return { fsGroup, policy: policy === 'OnRootMismatch' ? 'OnRootMismatch' : 'Always' };
}

/** The mode an fsGroup-owned file of a volume ends with (kubelet `changeFilePermission`). */
export function fsGroupFileMode(mode: number, readOnly: boolean): number {
  return mode | (readOnly ? fsGroupReadOnlyMask : fsGroupReadWriteMask);
}

/**
 * Gives a volume directory to the pod's fsGroup (kubelet `SetVolumeOwnership`): every
 * entry under `dir` (and `dir` itself), without following symlinks, gets group
 * `fsGroup` (the owner is kept); files get the read (read-only volume) or read-write
 * bits for owner and group, directories also setgid and owner/group search, so new
 * files inherit the group. Symlinks only change group. With policy `OnRootMismatch`
 * nothing is done when `dir` already has the group and the bits.
 */
export async function setVolumeOwnership(
  dir: string,
  fsGroup: number,
  options: { readOnly: boolean; policy?: 'Always' | 'OnRootMismatch' },
): Promise<void> {
  const fileMask = options.readOnly ? fsGroupReadOnlyMask : fsGroupReadWriteMask;
  const dirMask = fileMask | fsGroupDirectoryMask;
  if (options.policy === 'OnRootMismatch') {
    const root = await lstat(dir);
    if (root.gid === fsGroup && (root.mode & dirMask) === dirMask) return;
  }
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.gid !== fsGroup) await lchown(path, st.uid, fsGroup);
    if (st.isSymbolicLink()) return;
    const mask = st.isDirectory() ? dirMask : fileMask;
    const mode = st.mode & 0o7777;
    if ((mode | mask) !== mode) await chmod(path, mode | mask);
    if (st.isDirectory()) {
      for (const entry of await readdir(path)) await visit(join(path, entry));
    }
  };
  await visit(dir);
}
