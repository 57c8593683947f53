import type { Clock } from '@nodeagent/core';
import { isNotFound, type FileStat, type HostFilesystem } from './host-fs.js';

/** What a directory tree takes on disk. */
export interface DiskUsage {
  /** Allocated bytes (512-byte blocks × 512, like `du -B1`), each inode counted once. */
  bytes: number;
  /** Distinct inodes in the tree, the root included (like `find -xdev | wc -l` minus hard-link duplicates). */
  inodes: number;
  /** True when the walk stopped at its time or entry cap; the figures are then a lower bound. */
  truncated: boolean;
}

/** Limits of one {@link diskUsage} walk. */
export interface DiskUsageOptions {
  fs: HostFilesystem;
  clock: Clock;
  /** Stop after this long (monotonic ms); default 10 000. */
  timeoutMs?: number;
  /** Stop after this many entries; default 1 000 000. */
  maxEntries?: number;
}

/** Entries lstat'ed at once while walking one directory. */
const lstatBatch = 128;

/**
 * The kubelet's `du -x -s -B1` plus `find -xdev` inode count, done in-process and
 * bounded: walks `root` without following symbolic links, stays on the root's
 * filesystem, counts a hard-linked inode once, and stops at `timeoutMs` or
 * `maxEntries` (the result then says `truncated`). Entries that vanish during the
 * walk are skipped. Rejects with ENOENT when `root` itself does not exist.
 */
export async function diskUsage(root: string, options: DiskUsageOptions): Promise<DiskUsage> {
  const { fs, clock } = options;
  const deadline = clock.monotonicNow() + (options.timeoutMs ?? 10_000);
  const maxEntries = options.maxEntries ?? 1_000_000;
  const rootStat = await fs.lstat(root);
  const seen = new Set<string>();
  let bytes = 0;
  let inodes = 0;
  let entries = 0;
  const count = (s: FileStat): void => {
    if (s.nlink > 1 && !s.isDirectory()) {
      const key = `${s.dev}:${s.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    bytes += s.blocks * 512;
    inodes += 1;
  };
  count(rootStat);
  if (!rootStat.isDirectory()) return { bytes, inodes, truncated: false };

  const dirs: string[] = [root];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    for (let i = 0; i < names.length; i += lstatBatch) {
      if (clock.monotonicNow() > deadline || entries >= maxEntries) {
        return { bytes, inodes, truncated: true };
      }
      const batch = names.slice(i, i + lstatBatch).map((n) => `${dir}/${n}`);
      entries += batch.length;
      const stats = await Promise.all(
        batch.map((p) =>
          fs.lstat(p).then(
            (s) => ({ p, s }),
            (err: unknown) => {
              if (isNotFound(err)) return undefined;
              throw err;
            },
          ),
        ),
      );
      for (const entry of stats) {
        if (!entry || entry.s.dev !== rootStat.dev) continue; // -x: other filesystems are not ours
        count(entry.s);
        if (entry.s.isDirectory() && !entry.s.isSymbolicLink()) dirs.push(entry.p);
      }
    }
  }
  return { bytes, inodes, truncated: false };
}
