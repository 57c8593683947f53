import { statsTime, type FsStats } from '@nodeagent/core';
import type { StatFs } from './host-fs.js';

/**
 * A whole filesystem's FsStats from statfs, as cadvisor's `GetDirFsInfo`:
 * capacity = blocks × bsize, available = bavail × bsize (what non-root may use),
 * used = (blocks − bfree) × bsize, inodesUsed = files − ffree.
 */
export function fsStatsFromStatfs(s: StatFs, timeMs: number): FsStats {
  return {
    time: statsTime(timeMs),
    availableBytes: s.bavail * s.bsize,
    capacityBytes: s.blocks * s.bsize,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    inodesFree: s.ffree,
    inodes: s.files,
    inodesUsed: s.files - s.ffree,
  };
}

/** Capacity, available and inode totals of a filesystem, without its used figures. */
export function fsCapacity(
  s: StatFs,
): Pick<FsStats, 'availableBytes' | 'capacityBytes' | 'inodes' | 'inodesFree'> {
  return {
    availableBytes: s.bavail * s.bsize,
    capacityBytes: s.blocks * s.bsize,
    inodesFree: s.ffree,
    inodes: s.files,
  };
}
