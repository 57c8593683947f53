import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  rmdir,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { CgroupFileSystem } from '../cgroup-fs.js';

/** Which host layout to imitate. */
export type FakeCgroupMode = 'v1' | 'hybrid' | 'v2';

/** Options of {@link createFakeCgroupfs}. */
export interface FakeCgroupfsOptions {
  mode: FakeCgroupMode;
  /** v1 hierarchies to mount (directory names); default a Debian-like set with `cpu,cpuacct` plus symlinks. */
  hierarchies?: string[];
  /** Huge page sizes the "kernel" offers, e.g. `['2MB', '1GB']`; default `['2MB']`. */
  hugePageSizes?: string[];
  /** The root cpuset; default `0-3`, mems `0`. */
  cpus?: string;
}

/** A temporary directory that behaves like cgroupfs for the operations the managers use. */
export interface FakeCgroupfs {
  /** The mount root to give the manager (like `/sys/fs/cgroup`). */
  readonly root: string;
  /** Kernel-like file operations on it. */
  readonly fs: CgroupFileSystem;
  /** Every write, in order, with the path relative to the root. */
  readonly writes: Array<{ path: string; value: string }>;
  /** Reads a file, path relative to the root; undefined when missing. */
  read(path: string): Promise<string | undefined>;
  /** Whether a path (relative to the root) exists. */
  exists(path: string): Promise<boolean>;
  /** Puts a task into a cgroup (path relative to the root) as if a process ran there. */
  addTask(path: string, pid: number): Promise<void>;
  /** Empties a cgroup's task list. */
  clearTasks(path: string): Promise<void>;
  /** Removes the temporary directory. */
  cleanup(): Promise<void>;
}

const defaultV1 = [
  'cpu,cpuacct',
  'cpuset',
  'memory',
  'pids',
  'blkio',
  'devices',
  'freezer',
  'hugetlb',
  'systemd',
];
const v2Controllers = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'];

function errno(code: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: fake cgroupfs, ${path}`);
  err.code = code;
  err.path = path;
  return err;
}

/**
 * Builds a fake cgroupfs in a temp directory. `mkdir` populates the interface files
 * the kernel would (per v1 controller, or per controller enabled in the parent's v2
 * `cgroup.subtree_control`, which also becomes the child's `cgroup.controllers`);
 * `rmdir` fails with `EBUSY` while the cgroup has tasks or child cgroups and otherwise
 * removes the directory with its interface files; writing a missing file fails with
 * `ENOENT`; v2 `subtree_control` writes take `+ctrl -ctrl` tokens.
 */
export async function createFakeCgroupfs(options: FakeCgroupfsOptions): Promise<FakeCgroupfs> {
  const root = await mkdtemp(join(tmpdir(), 'nodeagent-cgroupfs-'));
  const hugePageSizes = options.hugePageSizes ?? ['2MB'];
  const cpus = options.cpus ?? '0-3';
  const writes: Array<{ path: string; value: string }> = [];

  /** The v1 hierarchy directory a path lies in, or '' for v2. */
  const hierarchyOf = (path: string): string => {
    if (options.mode === 'v2') return '';
    return relative(root, path).split(sep)[0] ?? '';
  };

  const v1Files = (hierarchy: string, isRoot: boolean): Record<string, string> => {
    const files: Record<string, string> = { 'cgroup.procs': '', tasks: '', notify_on_release: '0' };
    for (const c of hierarchy.split(',')) {
      if (c === 'cpu')
        Object.assign(files, {
          'cpu.shares': '1024',
          'cpu.cfs_quota_us': '-1',
          'cpu.cfs_period_us': '100000',
        });
      if (c === 'cpuacct') files['cpuacct.usage'] = '0';
      if (c === 'memory')
        Object.assign(files, {
          'memory.limit_in_bytes': '9223372036854771712',
          'memory.usage_in_bytes': '0',
        });
      if (c === 'pids' && !isRoot) files['pids.max'] = 'max';
      if (c === 'cpuset')
        Object.assign(files, {
          'cpuset.cpus': isRoot ? cpus : '',
          'cpuset.mems': isRoot ? '0' : '',
        });
      if (c === 'hugetlb')
        for (const size of hugePageSizes)
          files[`hugetlb.${size}.limit_in_bytes`] = '9223372036854771712';
      if (c === 'blkio') files['blkio.weight'] = '500';
    }
    return files;
  };

  const v2Files = (enabled: string[], isRoot: boolean): Record<string, string> => {
    const files: Record<string, string> = {
      'cgroup.procs': '',
      'cgroup.controllers': enabled.join(' '),
      'cgroup.subtree_control': '',
    };
    if (isRoot) return files;
    for (const c of enabled) {
      if (c === 'cpu') Object.assign(files, { 'cpu.weight': '100', 'cpu.max': 'max 100000' });
      if (c === 'memory') Object.assign(files, { 'memory.max': 'max', 'memory.current': '0' });
      if (c === 'pids') files['pids.max'] = 'max';
      if (c === 'cpuset') Object.assign(files, { 'cpuset.cpus': '', 'cpuset.mems': '' });
      if (c === 'io') files['io.weight'] = 'default 100';
      if (c === 'hugetlb') for (const size of hugePageSizes) files[`hugetlb.${size}.max`] = 'max';
    }
    return files;
  };

  const populate = async (dir: string, files: Record<string, string>): Promise<void> => {
    for (const [name, value] of Object.entries(files)) await writeFile(join(dir, name), value);
  };

  const existsPath = async (path: string): Promise<boolean> => {
    try {
      await lstat(path);
      return true;
    } catch {
      return false;
    }
  };

  // Mount the hierarchies.
  if (options.mode === 'v2') {
    await populate(root, v2Files(v2Controllers, true));
  } else {
    for (const h of options.hierarchies ?? defaultV1) {
      await mkdir(join(root, h));
      await populate(join(root, h), v1Files(h, true));
      if (h.includes(',')) for (const c of h.split(',')) await symlink(h, join(root, c));
    }
    if (options.mode === 'hybrid') {
      await mkdir(join(root, 'unified'));
      await populate(join(root, 'unified'), v2Files([], true));
    }
  }

  const fs: CgroupFileSystem = {
    exists: existsPath,
    async mkdir(path) {
      if (await existsPath(path)) return;
      await mkdir(path); // ENOENT when the parent is missing, like mkdir(2)
      const h = hierarchyOf(path);
      const isUnified = options.mode === 'v2' || h === 'unified';
      if (isUnified) {
        const parentControl = await readFile(join(path, '..', 'cgroup.subtree_control'), 'utf8');
        await populate(
          path,
          v2Files(
            parentControl.split(' ').filter((c) => c !== ''),
            false,
          ),
        );
      } else {
        await populate(path, v1Files(h, false));
      }
    },
    async rmdir(path) {
      if (!(await existsPath(path))) throw errno('ENOENT', path);
      const entries = await readdir(path, { withFileTypes: true });
      if (entries.some((e) => e.isDirectory())) throw errno('EBUSY', path);
      const procs = await readFile(join(path, 'cgroup.procs'), 'utf8').catch(() => '');
      if (procs.trim() !== '') throw errno('EBUSY', path);
      for (const e of entries) await unlink(join(path, e.name));
      await rmdir(path);
    },
    async listDirectories(path) {
      try {
        return (await readdir(path, { withFileTypes: true }))
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return [];
      }
    },
    async listFiles(path) {
      try {
        return (await readdir(path, { withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => e.name);
      } catch {
        return [];
      }
    },
    async readFile(path) {
      return readFile(path, 'utf8');
    },
    async writeFile(path, value) {
      if (!(await existsPath(path))) throw errno('ENOENT', path);
      writes.push({ path: relative(root, path), value });
      if (path.endsWith('cgroup.subtree_control')) {
        const available = (await readFile(join(path, '..', 'cgroup.controllers'), 'utf8')).split(
          ' ',
        );
        const enabled = new Set((await readFile(path, 'utf8')).split(' ').filter((c) => c !== ''));
        for (const token of value.split(' ').filter((t) => t !== '')) {
          const name = token.slice(1);
          if (!available.includes(name)) throw errno('ENOENT', path);
          if (token.startsWith('+')) enabled.add(name);
          else enabled.delete(name);
        }
        await writeFile(path, v2Controllers.filter((c) => enabled.has(c)).join(' '));
        return;
      }
      if (/^-?\d+$/.test(value) === false && /(shares|weight|_us|in_bytes)$/.test(path))
        throw errno('EINVAL', path);
      await writeFile(path, value);
    },
  };

  return {
    root,
    fs,
    writes,
    async read(path) {
      try {
        return await readFile(join(root, path), 'utf8');
      } catch {
        return undefined;
      }
    },
    exists: (path) => existsPath(join(root, path)),
    async addTask(path, pid) {
      const file = join(root, path, 'cgroup.procs');
      const have = await readFile(file, 'utf8');
      await writeFile(file, `${have}${pid}\n`);
    },
    async clearTasks(path) {
      await writeFile(join(root, path, 'cgroup.procs'), '');
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
