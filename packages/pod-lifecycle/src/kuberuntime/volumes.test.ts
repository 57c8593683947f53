import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidPodSpecError } from './errors.js';
import {
  prepareHostPath,
  prepareTerminationMessageFile,
  terminationMessageFilePath,
  volumeHostPath,
} from './volumes.js';

describe('volumeHostPath', () => {
  it('emptyDir under the pod dir, hostPath as given, others undefined', () => {
    expect(volumeHostPath('/var/lib/kubelet/pods/u1', { name: 'cache', emptyDir: {} })).toBe(
      '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/cache',
    );
    expect(volumeHostPath('/p', { name: 'h', hostPath: { path: '/srv' } })).toBe('/srv');
    expect(volumeHostPath('/p', { name: 'x' })).toBeUndefined();
  });
});

describe('prepareHostPath (real filesystem in a temp dir)', () => {
  let dir: string;
  let server: Server;
  let socketPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kuberuntime-hostpath-'));
    await mkdir(join(dir, 'adir'));
    await writeFile(join(dir, 'afile'), 'x');
    socketPath = join(dir, 'sock');
    server = createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('DirectoryOrCreate creates missing directories (with parents) and accepts existing ones', async () => {
    const path = join(dir, 'new', 'nested');
    await prepareHostPath('DirectoryOrCreate', path);
    expect((await stat(path)).isDirectory()).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o755 & ~process.umask());
    await prepareHostPath('DirectoryOrCreate', path);
    await expect(prepareHostPath('DirectoryOrCreate', join(dir, 'afile'))).rejects.toThrow(
      `hostPath type check failed: ${join(dir, 'afile')} is not a directory`,
    );
  });

  it('FileOrCreate creates an empty file; needs the parent', async () => {
    const path = join(dir, 'created-file');
    await prepareHostPath('FileOrCreate', path);
    const st = await stat(path);
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(0);
    await prepareHostPath('FileOrCreate', join(dir, 'afile'));
    await expect(prepareHostPath('FileOrCreate', join(dir, 'adir'))).rejects.toThrow(
      /is not a file/,
    );
    await expect(prepareHostPath('FileOrCreate', join(dir, 'missing-dir', 'f'))).rejects.toThrow(
      /ENOENT/,
    );
  });

  it('Directory, File, Socket, CharDevice, BlockDevice check existing paths', async () => {
    await prepareHostPath('Directory', join(dir, 'adir'));
    await prepareHostPath('File', join(dir, 'afile'));
    await prepareHostPath('Socket', socketPath);
    await prepareHostPath('CharDevice', '/dev/null');
    await expect(prepareHostPath('Directory', join(dir, 'afile'))).rejects.toThrow(
      /is not a directory/,
    );
    await expect(prepareHostPath('File', join(dir, 'adir'))).rejects.toThrow(/is not a file/);
    await expect(prepareHostPath('Socket', join(dir, 'afile'))).rejects.toThrow(
      /is not a socket file/,
    );
    await expect(prepareHostPath('CharDevice', join(dir, 'afile'))).rejects.toThrow(
      /is not a character device/,
    );
    await expect(prepareHostPath('BlockDevice', '/dev/null')).rejects.toThrow(
      /is not a block device/,
    );
    await expect(prepareHostPath('Directory', join(dir, 'nope'))).rejects.toThrow(/does not exist/);
    await expect(prepareHostPath('File', join(dir, 'nope'))).rejects.toBeInstanceOf(
      InvalidPodSpecError,
    );
  });

  it('"" checks nothing; unknown types are clear errors', async () => {
    await prepareHostPath('', join(dir, 'whatever-does-not-exist'));
    await expect(prepareHostPath('Dir', join(dir, 'adir'))).rejects.toThrow(
      /"Dir" is an invalid hostPath type/,
    );
  });

  it('termination message files', async () => {
    const path = terminationMessageFilePath(join(dir, 'pod'), 'app', 'abc123');
    expect(path).toBe(join(dir, 'pod', 'containers', 'app', 'abc123'));
    await prepareTerminationMessageFile(path);
    const st = await stat(path);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o666);
  });
});
