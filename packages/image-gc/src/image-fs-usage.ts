import { statfs as fsStatfs } from 'node:fs/promises';
import { InternalError, type ImageService } from '@nodeagent/core';

/** Space on the filesystem that holds the runtime's images (bytes). */
export interface ImageFsUsage {
  /** Size of the filesystem. */
  capacityBytes: number;
  /** Bytes an unprivileged writer can still use (statfs `f_bavail`). */
  availableBytes: number;
  /** Bytes used by images (the runtime's own figure when it gives one). */
  usedBytes: number;
  /** Mount point measured, when known. */
  mountpoint?: string;
}

/**
 * Measures the image filesystem. The kubelet takes this from its stats provider
 * (`ImageFsStats`); nodeagent's node-stats package can supply one, and
 * {@link criImageFsUsage} is the stand-alone default.
 */
export type ImageFsUsageProvider = () => Promise<ImageFsUsage>;

/** The `statfs` this module needs (node's `fs.promises.statfs` by default); injectable for tests. */
export type StatFs = (path: string) => Promise<{
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}>;

/**
 * The stand-alone image-fs measurement: CRI `ImageFsInfo` names the mount point of the
 * image filesystem (and the bytes its images use), `statfs` of that mount point gives
 * capacity and available space — what the kubelet's cadvisor-less stats provider does.
 */
export function criImageFsUsage(
  images: ImageService,
  statfs: StatFs = fsStatfs,
): ImageFsUsageProvider {
  return async () => {
    const info = await images.imageFsInfo({});
    const fs = info.imageFilesystems[0];
    const mountpoint = fs?.fsId?.mountpoint;
    if (!fs || !mountpoint) {
      throw new InternalError('the runtime reported no image filesystem in ImageFsInfo', {
        operation: 'ImageService/ImageFsInfo',
      });
    }
    const st = await statfs(mountpoint);
    const capacityBytes = st.bsize * st.blocks;
    const availableBytes = st.bsize * st.bavail;
    const usedBytes = fs.usedBytes?.value ?? st.bsize * (st.blocks - st.bfree);
    return { capacityBytes, availableBytes, usedBytes, mountpoint };
  };
}
