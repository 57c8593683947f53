import { lstat, readFile, readdir, statfs } from 'node:fs/promises';

/** What statfs(2) says about a filesystem; block counts are in units of `bsize` bytes. */
export interface StatFs {
  /** Filesystem magic (`f_type`), e.g. {@link tmpfsMagic}. */
  type: number;
  /** Block size in bytes. */
  bsize: number;
  /** Total data blocks. */
  blocks: number;
  /** Free blocks. */
  bfree: number;
  /** Free blocks available to unprivileged users. */
  bavail: number;
  /** Total inodes. */
  files: number;
  /** Free inodes. */
  ffree: number;
}

/** The lstat(2) fields the disk-usage walk needs. */
export interface FileStat {
  /** Device the file lives on. */
  dev: number;
  /** Inode number. */
  ino: number;
  /** 512-byte blocks allocated (what `du` counts). */
  blocks: number;
  /** Number of hard links. */
  nlink: number;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/**
 * The host filesystem as node-stats reads it: text files under /proc and
 * /sys/fs/cgroup, statfs of mount points, and the lstat/readdir walk of disk-usage.
 * Injectable so unit tests run on fixtures; {@link nodeHostFs} is the real one.
 */
export interface HostFilesystem {
  /** The whole file as UTF-8 text; rejects (ENOENT…) like `fs.readFile`. */
  readText(path: string): Promise<string>;
  /** statfs(2) of the filesystem holding `path`. */
  statfs(path: string): Promise<StatFs>;
  /** lstat(2): never follows a symbolic link. */
  lstat(path: string): Promise<FileStat>;
  /** Names of a directory's entries (no `.`/`..`). */
  readdir(path: string): Promise<string[]>;
}

/** `TMPFS_MAGIC` from linux/magic.h: memory-backed filesystems (emptyDir medium Memory, secrets). */
export const tmpfsMagic = 0x01021994;

/** The real host filesystem through `node:fs/promises`. */
export const nodeHostFs: HostFilesystem = {
  readText: (path) => readFile(path, 'utf8'),
  statfs: async (path) => {
    const s = await statfs(path);
    return {
      type: s.type,
      bsize: s.bsize,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
    };
  },
  lstat: (path) => lstat(path),
  readdir: (path) => readdir(path),
};

/** True for the "no such file or directory" error of a host filesystem call. */
export function isNotFound(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    'code' in err &&
    (err.code === 'ENOENT' || err.code === 'ENOTDIR')
  );
}
