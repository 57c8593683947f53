import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Memory-backed mounts for volumes whose contents must never touch the node's disk
 * (kubelet: Secret, downward-API and projected volumes wrap an emptyDir with
 * `medium: Memory`, i.e. a tmpfs). Injectable so unit tests need not be root.
 */
export interface TmpfsMounter {
  /**
   * Mounts a fresh tmpfs on the (existing) directory `path`, limited to `sizeBytes`
   * when given (else the kernel's default, half of RAM).
   */
  mountTmpfs(path: string, options?: { sizeBytes?: number }): Promise<void>;
  /** Unmounts what is mounted on `path`. */
  unmount(path: string): Promise<void>;
  /**
   * Mount points at or below `dir` (absolute paths), deepest first, so they can be
   * unmounted in that order.
   */
  mountPointsUnder(dir: string): Promise<string[]>;
}

/** Decodes the octal escapes (`\040` for a space …) of /proc/self/mountinfo fields. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount points listed in a /proc/self/mountinfo text (5th field of each line). */
export function parseMountInfo(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const mountPoint = fields[4];
    if (mountPoint) out.push(unescapeMountField(mountPoint));
  }
  return out;
}

/**
 * The real mounter: `mount -t tmpfs tmpfs <dir>` and `umount <dir>` (needs root, as the
 * kubelet does), mount points from /proc/self/mountinfo.
 */
export const nodeTmpfsMounter: TmpfsMounter = {
  async mountTmpfs(path, options) {
    const size = options?.sizeBytes;
    const opts =
      size !== undefined && size > 0 ? `mode=0755,size=${Math.floor(size)}` : 'mode=0755';
    await run('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', path]);
  },
  async unmount(path) {
    await run('umount', [path]);
  },
  async mountPointsUnder(dir) {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const points = parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')).filter(
      (p) => p === dir || p.startsWith(prefix),
    );
    // Deepest first; a path mounted twice is listed twice (unmount both).
    return points.sort((a, b) => b.length - a.length);
  },
};
