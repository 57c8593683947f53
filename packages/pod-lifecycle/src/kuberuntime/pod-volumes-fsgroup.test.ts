/**
 * ConfigVolumeManager with a pod fsGroup (kubelet configmap/secret/emptyDir plugins call
 * SetVolumeOwnership): a real temp directory, a FakeClock, in-memory ConfigMaps.
 */
import { lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, type ConfigMapManager, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { ConfigVolumeManager } from './pod-volumes.js';
import { volumeHostPath } from './volumes.js';

const isRoot = process.getuid?.() === 0;
const group = isRoot ? 2345 : (process.getgid?.() ?? 0);

const configMaps = (data: Record<string, string>): ConfigMapManager => ({
  getConfigMap: async (namespace, name) => {
    if (name !== 'cm') throw new NotFoundError(`configmap "${name}" not found`);
    return { metadata: { name, namespace }, data };
  },
  registerPod: () => {},
  unregisterPod: () => {},
});

let podDir: string;
beforeEach(async () => {
  podDir = await mkdtemp(join(tmpdir(), 'na-cv-fsgroup-'));
});
afterEach(async () => {
  await rm(podDir, { recursive: true, force: true });
});

const ctx = { podIPs: [], hostIP: '', nodeName: 'n' };

describe('ConfigVolumeManager and fsGroup', () => {
  const volume: k8s.Volume = { name: 'c', configMap: { name: 'cm', defaultMode: 0o400 } };

  it('configMap files belong to the fsGroup and are group-readable (configmap_volume.go non-root with fsGroup)', async () => {
    const data = { k: 'v1' };
    const m = new ConfigVolumeManager({ clock: new FakeClock(), configMaps: configMaps(data) });
    const p = pod([container('a')], { securityContext: { runAsUser: 1000, fsGroup: group } });
    expect(await m.setUp(p, podDir, volume, ctx)).toBe(true);
    const dir = volumeHostPath(podDir, volume)!;
    const file = join(dir, 'k');
    const st = await lstat(join(dir, '..data', 'k'));
    expect(st.gid).toBe(group);
    expect(st.mode & 0o777).toBe(0o440);
    expect(await readFile(file, 'utf8')).toBe('v1');
    expect((await lstat(dir)).gid).toBe(group);
    // Unchanged contents: nothing rewritten (the fsGroup mode is the expected one).
    expect(await m.setUp(p, podDir, volume, ctx)).toBe(false);
    // An update is written and owned the same way.
    data.k = 'v2';
    expect(await m.setUp(p, podDir, volume, ctx)).toBe(true);
    const updated = await lstat(join(dir, '..data', 'k'));
    expect(updated.gid).toBe(group);
    expect(updated.mode & 0o777).toBe(0o440);
    expect(await readFile(file, 'utf8')).toBe('v2');
  });

  it('without fsGroup the modes are as asked and the group untouched', async () => {
    const m = new ConfigVolumeManager({
      clock: new FakeClock(),
      configMaps: configMaps({ k: 'v' }),
    });
    const p = pod([container('a')]);
    await m.setUp(p, podDir, volume, ctx);
    const st = await lstat(join(volumeHostPath(podDir, volume)!, '..data', 'k'));
    expect(st.mode & 0o777).toBe(0o400);
    expect(st.gid).toBe((await lstat(podDir)).gid);
  });

  it('applyPodFsGroup gives an emptyDir to the fsGroup, setgid and group-writable (empty_dir.go / fsGroup)', async () => {
    const m = new ConfigVolumeManager({ clock: new FakeClock() });
    await writeFile(join(podDir, 'f'), 'x', { mode: 0o644 });
    await m.applyPodFsGroup(pod([container('a')], { securityContext: { fsGroup: group } }), podDir);
    expect((await lstat(podDir)).gid).toBe(group);
    expect((await lstat(podDir)).mode & 0o2070).toBe(0o2070);
    expect((await lstat(join(podDir, 'f'))).mode & 0o777).toBe(0o664);
    // No fsGroup: nothing changes.
    await writeFile(join(podDir, 'g'), 'x', { mode: 0o600 });
    await m.applyPodFsGroup(pod([container('a')]), podDir);
    expect((await lstat(join(podDir, 'g'))).mode & 0o777).toBe(0o600);
  });
});
