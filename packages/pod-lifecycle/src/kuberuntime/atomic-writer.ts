import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Clock } from '@nodeagent/core';
import { validateVolumeFilePath, type VolumePayload } from './volume-payload.js';

/** The symlink to the current timestamped data directory (kubelet `dataDirName`). */
export const atomicWriterDataDir = '..data';
/** The symlink renamed over {@link atomicWriterDataDir} to switch versions atomically. */
export const atomicWriterNewDataDir = '..data_tmp';

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

async function readlinkOrEmpty(path: string): Promise<string> {
  try {
    return await readlink(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'EINVAL')) return '';
    throw err;
  }
}

/** `..2006_01_02_15_04_05.` from a UTC timestamp (ms). */
function timestampPrefix(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.`;
}

async function walkFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(join(root, rel), { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory()) out.push(...(await walkFiles(root, p)));
  }
  return out;
}

/**
 * Projects a set of files into a volume directory atomically, as the kubelet's
 * `AtomicWriter` (pkg/volume/util/atomic_writer.go) does:
 *
 * - the files live in a hidden timestamped directory `..2006_01_02_15_04_05.<n>`;
 * - `..data` is a symlink to it, switched by renaming a fresh `..data_tmp` symlink over
 *   it (rename is atomic), so readers see the old set or the new, never a mix;
 * - each top-level entry is a user-visible symlink `<name> → ..data/<name>`;
 * - entries that disappeared are removed, and the previous timestamped directory too.
 *
 * Nothing is written when every file already has the same contents and mode and none
 * must go. Not safe for concurrent writes to one directory: the caller serialises
 * (one pod worker per pod). Timestamps come from the injected clock.
 */
export class AtomicWriter {
  private counter = 0;

  constructor(
    /** The volume directory; created (0750) if missing. */
    readonly targetDir: string,
    private readonly clock: Clock,
  ) {}

  /**
   * Writes `payload`; returns true when the volume changed, false when it was already
   * up to date. `setPerms`, when given, is called with the new timestamped directory
   * once its files are written and before it becomes visible (kubelet step 7, where
   * the volume plugins apply the pod's fsGroup).
   * @throws InvalidArgumentError for an invalid path (before anything is written);
   *   filesystem errors otherwise.
   */
  async write(
    payload: VolumePayload,
    setPerms?: (timestampDir: string) => Promise<void>,
  ): Promise<boolean> {
    const clean = new Map<string, { data: Uint8Array; mode: number }>();
    for (const [path, file] of payload) {
      validateVolumeFilePath(path);
      clean.set(posix.normalize(path), file);
    }
    await mkdir(this.targetDir, { recursive: true, mode: 0o750 });
    const dataDirPath = join(this.targetDir, atomicWriterDataDir);
    const oldTsDir = await readlinkOrEmpty(dataDirPath);
    const oldTsPath = oldTsDir ? join(this.targetDir, oldTsDir) : '';

    let toRemove: string[] = [];
    if (oldTsDir) {
      const newPaths = new Set<string>();
      for (const file of clean.keys()) {
        for (let sub = file; sub !== '' && sub !== '.'; sub = posix.dirname(sub)) newPaths.add(sub);
      }
      toRemove = (await walkFiles(oldTsPath)).filter((p) => !newPaths.has(p));
      if (toRemove.length === 0 && !(await this.payloadDiffers(clean, oldTsPath))) return false;
    }

    const tsDir = await this.newTimestampDir();
    const tsName = posix.basename(tsDir);
    try {
      for (const [path, file] of clean) {
        const full = join(tsDir, path);
        await mkdir(dirname(full), { recursive: true, mode: 0o755 });
        await writeFile(full, file.data, { mode: file.mode });
        // The umask applies at creation: set the exact mode.
        await chmod(full, file.mode);
      }
      if (setPerms) await setPerms(tsDir);
      for (const path of clean.keys()) {
        const top = path.split('/')[0] ?? path;
        const visible = join(this.targetDir, top);
        if ((await readlinkOrEmpty(visible)) === '') {
          await rm(visible, { recursive: true, force: true });
          await symlink(posix.join(atomicWriterDataDir, top), visible);
        }
      }
      const newDataDirPath = join(this.targetDir, atomicWriterNewDataDir);
      await rm(newDataDirPath, { force: true });
      await symlink(tsName, newDataDirPath);
      try {
        await rename(newDataDirPath, dataDirPath);
      } catch (err) {
        await rm(newDataDirPath, { force: true });
        throw err;
      }
    } catch (err) {
      await rm(tsDir, { recursive: true, force: true });
      throw err;
    }
    for (const p of toRemove) {
      // Only user-visible symlinks at the volume root.
      if (p.includes('/')) continue;
      await unlink(join(this.targetDir, p)).catch((err: unknown) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
    }
    if (oldTsPath) await rm(oldTsPath, { recursive: true, force: true });
    return true;
  }

  private async payloadDiffers(
    payload: Map<string, { data: Uint8Array; mode: number }>,
    oldTsPath: string,
  ): Promise<boolean> {
    for (const [path, file] of payload) {
      const full = join(oldTsPath, path);
      let st;
      try {
        st = await lstat(full);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return true;
        throw err;
      }
      if (!st.isFile() || (st.mode & 0o777) !== file.mode) return true;
      const onDisk = await readFile(full);
      if (Buffer.compare(onDisk, file.data) !== 0) return true;
    }
    return false;
  }

  private async newTimestampDir(): Promise<string> {
    const prefix = timestampPrefix(this.clock.now());
    for (;;) {
      const path = join(this.targetDir, `${prefix}${++this.counter}`);
      try {
        await mkdir(path, { mode: 0o755 });
      } catch (err) {
        if (isErrno(err, 'EEXIST')) continue;
        throw err;
      }
      // 0755 whatever the umask, so every user in the container can traverse it.
      await chmod(path, 0o755);
      return path;
    }
  }
}
