import { mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';

/**
 * The few file operations the cgroup managers need, so unit tests can run them
 * against a temporary directory that imitates cgroupfs. Paths are absolute host
 * paths (e.g. `/sys/fs/cgroup/memory/kubepods/pod…/memory.limit_in_bytes`).
 * Errors are Node's `ErrnoException`s (`ENOENT`, `EBUSY`, `EEXIST`, …).
 */
export interface CgroupFileSystem {
  /** True when `path` exists (file or directory). */
  exists(path: string): Promise<boolean>;
  /** Creates one directory; an existing directory is not an error. */
  mkdir(path: string): Promise<void>;
  /**
   * Removes one empty cgroup directory (`rmdir(2)`): on cgroupfs this works while the
   * interface files are there, and fails with `EBUSY` while the cgroup has tasks or
   * child cgroups. Never removes anything recursively.
   */
  rmdir(path: string): Promise<void>;
  /** Names of the sub-directories of `path` (child cgroups); `[]` when it is missing. */
  listDirectories(path: string): Promise<string[]>;
  /** Names of the regular files in `path` (interface files). */
  listFiles(path: string): Promise<string[]>;
  /** Reads a whole file as UTF-8. */
  readFile(path: string): Promise<string>;
  /** Writes `value` to an (existing) interface file, as one `write(2)`. */
  writeFile(path: string, value: string): Promise<void>;
}

/** The {@link CgroupFileSystem} of the host: `node:fs/promises` on the real cgroupfs. */
export const hostCgroupFileSystem: CgroupFileSystem = {
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
      throw err;
    }
  },
  async mkdir(path) {
    try {
      await mkdir(path);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  },
  async rmdir(path) {
    await rmdir(path);
  },
  async listDirectories(path) {
    try {
      const entries = await readdir(path, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  },
  async listFiles(path) {
    try {
      const entries = await readdir(path, { withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => e.name);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  },
  async readFile(path) {
    return readFile(path, 'utf8');
  },
  async writeFile(path, value) {
    // 'r+' (no O_CREAT/O_TRUNC): cgroupfs files must exist; a typo must not create one.
    await writeFile(path, value, { flag: 'r+' });
  },
};

/** The `code` of a Node system error (`ENOENT`, `EBUSY`, …), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
