import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The mount operations of the test CSI driver; replaceable so unit tests need no root. */
export interface TestCsiMounter {
  /** Bind-mounts `source` on `target` (both existing directories), read-only if asked. */
  bind(source: string, target: string, readonly: boolean): Promise<void>;
  /** Unmounts `target`. */
  unmount(target: string): Promise<void>;
  /** Whether `target` is a mount point. */
  isMounted(target: string): Promise<boolean>;
}

/** Decodes the octal escapes (`\040` for space) of /proc mount tables. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points listed in /proc/self/mountinfo. */
export async function listMountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint) out.push(unescapeMountPath(mountPoint));
  }
  return out;
}

/** Real bind mounts with mount(8)/umount(8): needs root (CAP_SYS_ADMIN). */
export const systemMounter: TestCsiMounter = {
  async bind(source, target, readonly) {
    await run('mount', ['--bind', source, target]);
    if (readonly) await run('mount', ['-o', 'remount,bind,ro', target]);
  },
  async unmount(target) {
    await run('umount', [target]);
  },
  async isMounted(target) {
    return (await listMountPoints()).includes(target);
  },
};
