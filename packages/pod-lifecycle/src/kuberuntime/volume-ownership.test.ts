import { lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { fsGroupFileMode, podFsGroup, setVolumeOwnership } from './volume-ownership.js';

// Changing a file's group to any gid needs root; otherwise use one of ours.
const isRoot = process.getuid?.() === 0;
const group = isRoot ? 2345 : (process.getgid?.() ?? 0);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'na-ownership-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<number> {
  return (await lstat(path)).mode & 0o7777;
}

describe('podFsGroup', () => {
  it('reads fsGroup and the change policy (Always by default)', () => {
    expect(podFsGroup(pod([container('a')]))).toBeUndefined();
    expect(podFsGroup(pod([container('a')], { securityContext: { fsGroup: 7 } }))).toEqual({
      fsGroup: 7,
      policy: 'Always',
    });
    const spec = { securityContext: { fsGroup: 7, fsGroupChangePolicy: 'OnRootMismatch' } };
    expect(podFsGroup(pod([container('a')], spec as never))?.policy).toBe('OnRootMismatch');
  });
});

describe('fsGroupFileMode', () => {
  it('adds owner and group read (read-only volumes) or read-write (writable ones)', () => {
    expect(fsGroupFileMode(0o400, true)).toBe(0o440);
    expect(fsGroupFileMode(0o644, true)).toBe(0o644);
    expect(fsGroupFileMode(0o600, false)).toBe(0o660);
  });
});

describe('setVolumeOwnership (kubelet SetVolumeOwnership)', () => {
  it('gives every entry the group; files get the mask, directories also setgid and search', async () => {
    await mkdir(join(dir, 'sub'), { mode: 0o700 });
    await writeFile(join(dir, 'sub', 'f'), 'x', { mode: 0o600 });
    await writeFile(join(dir, 'ro'), 'x', { mode: 0o400 });
    await symlink('sub/f', join(dir, 'link'));
    await setVolumeOwnership(dir, group, { readOnly: false });
    for (const p of ['', 'sub', 'sub/f', 'ro', 'link'])
      expect((await lstat(join(dir, p))).gid, p).toBe(group);
    expect(await modeOf(join(dir, 'sub'))).toBe(0o2770);
    expect(await modeOf(join(dir, 'sub', 'f'))).toBe(0o660);
    expect(await modeOf(join(dir, 'ro'))).toBe(0o660);
  });

  it('read-only volumes get only the read bits', async () => {
    await writeFile(join(dir, 'f'), 'x', { mode: 0o400 });
    await setVolumeOwnership(dir, group, { readOnly: true });
    expect(await modeOf(join(dir, 'f'))).toBe(0o440);
    expect((await modeOf(dir)) & 0o2550).toBe(0o2550);
  });

  it('OnRootMismatch leaves the volume alone when its root already matches', async () => {
    await setVolumeOwnership(dir, group, { readOnly: false });
    await writeFile(join(dir, 'later'), 'x', { mode: 0o600 });
    await setVolumeOwnership(dir, group, { readOnly: false, policy: 'OnRootMismatch' });
    expect(await modeOf(join(dir, 'later'))).toBe(0o600);
    await setVolumeOwnership(dir, group, { readOnly: false, policy: 'Always' });
    expect(await modeOf(join(dir, 'later'))).toBe(0o660);
  });
});
