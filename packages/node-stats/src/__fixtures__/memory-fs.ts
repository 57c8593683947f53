/** An in-memory HostFilesystem for unit tests, loaded from the fixture directories. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FileStat, HostFilesystem, StatFs } from '../host-fs.js';

export const fixturesDir = dirname(fileURLToPath(import.meta.url));

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${path}'`), {
    code: 'ENOENT',
  });
}

/** Files by absolute path; directories are implied by the paths; statfs by longest mount prefix. */
export class MemoryFs implements HostFilesystem {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>(['/']);
  readonly mounts = new Map<string, StatFs>();
  private readonly inodes = new Map<string, number>();
  private nextIno = 1;

  /** Copies the fixture directory `name` (under __fixtures__) to `at`. */
  loadFixture(name: string, at: string): this {
    const walk = (src: string, dst: string): void => {
      for (const entry of readdirSync(src)) {
        const s = join(src, entry);
        if (statSync(s).isDirectory()) walk(s, `${dst}/${entry}`);
        else this.write(`${dst}/${entry}`, readFileSync(s, 'utf8'));
      }
    };
    walk(join(fixturesDir, name), at);
    return this;
  }

  write(path: string, content: string): void {
    this.files.set(path, content);
    for (let d = dirname(path); ; d = dirname(d)) {
      this.dirs.add(d);
      if (d === '/') break;
    }
  }

  mkdir(path: string): void {
    this.write(`${path}/.keep`, '');
    this.files.delete(`${path}/.keep`);
  }

  mount(path: string, s: Partial<StatFs>): void {
    this.mounts.set(path, {
      type: 0xef53,
      bsize: 4096,
      blocks: 0,
      bfree: 0,
      bavail: 0,
      files: 0,
      ffree: 0,
      ...s,
    });
  }

  readText(path: string): Promise<string> {
    const text = this.files.get(path);
    return text === undefined ? Promise.reject(enoent(path)) : Promise.resolve(text);
  }

  statfs(path: string): Promise<StatFs> {
    if (!this.files.has(path) && !this.dirs.has(path)) return Promise.reject(enoent(path));
    let best: string | undefined;
    for (const m of this.mounts.keys()) {
      if (
        (path === m || path.startsWith(`${m}/`) || m === '/') &&
        (!best || m.length > best.length)
      ) {
        best = m;
      }
    }
    const s = best === undefined ? undefined : this.mounts.get(best);
    return s ? Promise.resolve(s) : Promise.reject(enoent(path));
  }

  lstat(path: string): Promise<FileStat> {
    const isDir = this.dirs.has(path);
    const content = this.files.get(path);
    if (!isDir && content === undefined) return Promise.reject(enoent(path));
    let ino = this.inodes.get(path);
    if (ino === undefined) {
      ino = this.nextIno++;
      this.inodes.set(path, ino);
    }
    const size = isDir ? 4096 : Buffer.byteLength(content ?? '');
    return Promise.resolve({
      dev: 1,
      ino,
      blocks: Math.ceil(size / 4096) * 8,
      nlink: 1,
      isDirectory: () => isDir,
      isSymbolicLink: () => false,
    });
  }

  readdir(path: string): Promise<string[]> {
    if (!this.dirs.has(path)) return Promise.reject(enoent(path));
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = new Set<string>();
    for (const p of [...this.files.keys(), ...this.dirs]) {
      if (p.startsWith(prefix) && p !== path) names.add(p.slice(prefix.length).split('/')[0]!);
    }
    return Promise.resolve([...names].sort());
  }
}
