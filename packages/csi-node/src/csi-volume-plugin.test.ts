/**
 * CsiVolumePlugin + CsiVolumeManager with a fake CSI driver, a fake mount table and a
 * real temp directory. Time is a FakeClock (timeouts are driven by advancing it).
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, UnavailableError, isNodeAgentError, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CsiVolumePlugin } from './csi-volume-plugin.js';
import { StaticPersistentVolumeLookup } from './pv-lookup.js';
import type { CsiDriverRegistry, CsiNodeClient } from './types.js';
import {
  makeEphemeralVolumeHandle,
  publishTargetPath,
  stagingTargetPath,
  validateVolumeHandle,
} from './vol-data.js';
import type { MountPointChecker } from './volume-manager.js';

class FakeMounts implements MountPointChecker {
  points = new Set<string>();
  async isMountPoint(path: string): Promise<boolean> {
    return this.points.has(path);
  }
}

type Call = [string, Record<string, unknown>];

class FakeDriver implements CsiNodeClient {
  calls: Call[] = [];
  stageUnstage = true;
  getVolumeStats = true;
  /** Error thrown by the next publish/stage calls while set. */
  failWith: Error | undefined;
  /** Calls never answer (and ignore their signal) while set. */
  hang = false;
  constructor(
    readonly driverName: string,
    private readonly mounts: FakeMounts,
  ) {}
  private async enter(name: string, req: Record<string, unknown>): Promise<void> {
    this.calls.push([name, req]);
    if (this.hang) await new Promise<never>(() => undefined);
  }
  names(): string[] {
    return this.calls.map((c) => c[0]).filter((n) => n !== 'NodeGetCapabilities');
  }
  async nodeGetInfo() {
    return { nodeId: 'node-1', maxVolumesPerNode: 0 };
  }
  async nodeGetCapabilities() {
    await this.enter('NodeGetCapabilities', {});
    return {
      stageUnstage: this.stageUnstage,
      getVolumeStats: this.getVolumeStats,
      expandVolume: false,
      singleNodeMultiWriter: false,
      volumeMountGroup: false,
    };
  }
  async nodeStageVolume(req: Parameters<CsiNodeClient['nodeStageVolume']>[0]) {
    await this.enter('NodeStageVolume', { ...req });
    if (this.failWith) throw this.failWith;
    this.mounts.points.add(req.stagingTargetPath);
  }
  async nodeUnstageVolume(req: { volumeId: string; stagingTargetPath: string }) {
    await this.enter('NodeUnstageVolume', { ...req });
    this.mounts.points.delete(req.stagingTargetPath);
  }
  async nodePublishVolume(req: Parameters<CsiNodeClient['nodePublishVolume']>[0]) {
    await this.enter('NodePublishVolume', { ...req });
    if (this.failWith) throw this.failWith;
    await mkdir(req.targetPath, { recursive: true });
    this.mounts.points.add(req.targetPath);
  }
  async nodeUnpublishVolume(req: { volumeId: string; targetPath: string }) {
    await this.enter('NodeUnpublishVolume', { ...req });
    this.mounts.points.delete(req.targetPath);
  }
  async nodeGetVolumeStats(req: { volumeId: string; volumePath: string }) {
    await this.enter('NodeGetVolumeStats', { ...req });
    return {
      usage: [
        { unit: 'BYTES' as const, available: 700, total: 1000, used: 300 },
        { unit: 'INODES' as const, available: 90, total: 100, used: 10 },
      ],
    };
  }
  close(): void {}
}

class FakeRegistry implements CsiDriverRegistry {
  drivers = new Map<string, CsiNodeClient>();
  get(name: string) {
    return this.drivers.get(name);
  }
  list() {
    return [...this.drivers.keys()].sort();
  }
  onChange() {
    return () => undefined;
  }
}

const DRIVER = 'hostpath.csi.example.com';

function pod(uid: string, volumes: k8s.Volume[], namespace = 'team'): k8s.Pod {
  return {
    metadata: { name: `p-${uid}`, namespace, uid },
    spec: { containers: [{ name: 'c', image: 'busybox' }], volumes },
  };
}

const claim = (name: string, pv: string, phase = 'Bound') => ({
  metadata: { name, namespace: 'team', uid: `uid-${name}` },
  spec: { volumeName: pv },
  status: { phase },
});
const pv = (name: string, handle: string, claimName: string) => ({
  metadata: { name },
  spec: {
    accessModes: ['ReadWriteOnce'],
    mountOptions: ['noatime'],
    claimRef: { namespace: 'team', name: claimName, uid: `uid-${claimName}` },
    csi: {
      driver: DRIVER,
      volumeHandle: handle,
      volumeAttributes: { size: '1Gi' },
      fsType: 'ext4',
    },
  },
});

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

describe('CsiVolumePlugin', () => {
  let dir: string;
  let root: string;
  let clock: FakeClock;
  let mounts: FakeMounts;
  let driver: FakeDriver;
  let registry: FakeRegistry;
  let lookup: StaticPersistentVolumeLookup;
  let secrets: Map<string, k8s.Secret>;

  const newPlugin = (extra: { stageEphemeralVolumes?: boolean } = {}) =>
    new CsiVolumePlugin({
      ...extra,
      rootDir: root,
      nodeName: 'node-1',
      drivers: registry,
      clock,
      mounts,
      operationTimeoutMs: 5_000,
      persistentVolumes: lookup,
      secrets: {
        getSecret: async (ns, name) => {
          const s = secrets.get(`${ns}/${name}`);
          if (!s) throw new NotFoundError(`secret "${name}" not found`);
          return s;
        },
        registerPod() {},
        unregisterPod() {},
      },
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csi-vol-'));
    root = join(dir, 'root');
    clock = new FakeClock();
    mounts = new FakeMounts();
    driver = new FakeDriver(DRIVER, mounts);
    registry = new FakeRegistry();
    registry.drivers.set(DRIVER, driver);
    lookup = new StaticPersistentVolumeLookup({
      claims: [claim('data', 'pv-1'), claim('pending', '', 'Pending')],
      volumes: [pv('pv-1', 'vol-abc', 'data')],
    });
    secrets = new Map();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('inline volume: kubelet handle, publish only with stageEphemeralVolumes false (kubelet), vol_data.json, read-only, secrets', async () => {
    secrets.set('team/creds', {
      metadata: { name: 'creds' },
      data: { user: Buffer.from('alice').toString('base64') },
    });
    const plugin = newPlugin({ stageEphemeralVolumes: false });
    const p = pod('u1', [
      {
        name: 'scratch',
        csi: {
          driver: DRIVER,
          readOnly: true,
          fsType: 'xfs',
          volumeAttributes: { foo: 'bar' },
          nodePublishSecretRef: { name: 'creds' },
        },
      },
    ]);
    const mounted = await plugin.setUp(p, p.spec.volumes![0]!);
    const target = join(root, 'pods/u1/volumes/kubernetes.io~csi/scratch/mount');
    expect(mounted).toEqual({ path: target, readOnly: true });
    const handle = makeEphemeralVolumeHandle('u1', 'scratch');
    expect(handle).toMatch(/^csi-[0-9a-f]{64}$/);
    expect(driver.names()).toEqual(['NodePublishVolume']);
    const req = driver.calls.find((c) => c[0] === 'NodePublishVolume')![1];
    expect(req).toMatchObject({
      volumeId: handle,
      targetPath: target,
      readonly: true,
      secrets: { user: 'alice' },
      volumeContext: { foo: 'bar' },
      volumeCapability: { mount: { fsType: 'xfs' }, accessMode: 'SINGLE_NODE_WRITER' },
    });
    expect(req.stagingTargetPath).toBeUndefined();
    const data = JSON.parse(await readFile(join(target, '..', 'vol_data.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(data).toMatchObject({
      specVolID: 'scratch',
      volumeHandle: handle,
      driverName: DRIVER,
      nodeName: 'node-1',
      volumeLifecycleMode: 'Ephemeral',
    });
    expect(data.attachmentID).toMatch(/^csi-[0-9a-f]{64}$/);

    // Idempotent: a second set-up does not call the driver.
    await plugin.setUp(p, p.spec.volumes![0]!);
    expect(driver.names()).toEqual(['NodePublishVolume']);

    await plugin.tearDownPod(p);
    expect(driver.names()).toEqual(['NodePublishVolume', 'NodeUnpublishVolume']);
    expect(await exists(join(root, 'pods/u1/volumes/kubernetes.io~csi'))).toBe(false);
    expect(mounts.points.size).toBe(0);
  });

  it('inline volume: staged by default when the driver can (CSI spec), unstaged with the pod', async () => {
    const plugin = newPlugin();
    const v: k8s.Volume = { name: 'scratch', csi: { driver: DRIVER } };
    const p = pod('u2', [v]);
    await plugin.setUp(p, v);
    const handle = makeEphemeralVolumeHandle('u2', 'scratch');
    const staging = stagingTargetPath(root, DRIVER, handle);
    expect(driver.names()).toEqual(['NodeStageVolume', 'NodePublishVolume']);
    expect(driver.calls.find((c) => c[0] === 'NodePublishVolume')![1].stagingTargetPath).toBe(
      staging,
    );
    await plugin.tearDownPod(p);
    expect(driver.names().slice(2)).toEqual(['NodeUnpublishVolume', 'NodeUnstageVolume']);
    expect(mounts.points.size).toBe(0);
  });

  it('PVC: stages once per volume, publishes per pod, unstages after the last pod', async () => {
    const plugin = newPlugin();
    const vol: k8s.Volume = { name: 'data', persistentVolumeClaim: { claimName: 'data' } };
    const a = pod('a', [vol]);
    const b = pod('b', [vol]);
    const staging = stagingTargetPath(root, DRIVER, 'vol-abc');
    expect(staging).toMatch(
      new RegExp(`/plugins/kubernetes.io/csi/${DRIVER}/[0-9a-f]{64}/globalmount$`),
    );
    const ma = await plugin.setUp(a, vol);
    const mb = await plugin.setUp(b, vol);
    // The pod directory is named after the PV (kubelet spec.Name()).
    expect(ma.path).toBe(publishTargetPath(root, 'a', 'pv-1'));
    expect(mb.path).toBe(publishTargetPath(root, 'b', 'pv-1'));
    expect(driver.names()).toEqual(['NodeStageVolume', 'NodePublishVolume', 'NodePublishVolume']);
    const stage = driver.calls.find((c) => c[0] === 'NodeStageVolume')![1];
    expect(stage).toMatchObject({
      volumeId: 'vol-abc',
      stagingTargetPath: staging,
      volumeContext: { size: '1Gi' },
      volumeCapability: {
        mount: { fsType: 'ext4', mountFlags: ['noatime'] },
        accessMode: 'SINGLE_NODE_WRITER',
      },
    });
    const publish = driver.calls.find((c) => c[0] === 'NodePublishVolume')![1];
    expect(publish.stagingTargetPath).toBe(staging);
    const stagingData = JSON.parse(
      await readFile(join(staging, '..', 'vol_data.json'), 'utf8'),
    ) as Record<string, string>;
    expect(stagingData).toMatchObject({
      volumeHandle: 'vol-abc',
      driverName: DRIVER,
      volumeLifecycleMode: 'Persistent',
    });

    await plugin.tearDownPod(a);
    expect(driver.names().slice(3)).toEqual(['NodeUnpublishVolume']); // b still uses it
    expect(mounts.points.has(staging)).toBe(true);
    await plugin.tearDownPod(b);
    expect(driver.names().slice(3)).toEqual([
      'NodeUnpublishVolume',
      'NodeUnpublishVolume',
      'NodeUnstageVolume',
    ]);
    expect(mounts.points.size).toBe(0);
    expect(await exists(join(staging, '..'))).toBe(false);
    // Idempotent.
    await plugin.tearDownPod(b);
    expect(driver.names()).toHaveLength(6);
  });

  it('a driver without STAGE_UNSTAGE_VOLUME: PVC published without staging', async () => {
    driver.stageUnstage = false;
    const plugin = newPlugin();
    const vol: k8s.Volume = { name: 'data', persistentVolumeClaim: { claimName: 'data' } };
    await plugin.setUp(pod('a', [vol]), vol);
    expect(driver.names()).toEqual(['NodePublishVolume']);
    expect(driver.calls.find((c) => c[0] === 'NodePublishVolume')![1].stagingTargetPath).toBe(
      undefined,
    );
  });

  it.each([
    ['missing claim', 'nope', /persistentvolumeclaim "nope" not found/],
    [
      'unbound claim',
      'pending',
      /PVC team\/pending has non-bound phase \("Pending"\) or empty pvc.Spec.VolumeName/,
    ],
  ])('%s → clear error, nothing touched', async (_n, claimName, message) => {
    const plugin = newPlugin();
    const vol: k8s.Volume = { name: 'data', persistentVolumeClaim: { claimName } };
    await expect(plugin.setUp(pod('a', [vol]), vol)).rejects.toThrow(message);
    expect(driver.calls).toEqual([]);
    expect(await exists(join(root, 'pods'))).toBe(false);
  });

  it('a PV bound to another claim, or without spec.csi, is refused', async () => {
    lookup.setClaim(claim('other', 'pv-1'));
    lookup.setClaim(claim('nfs', 'pv-nfs'));
    lookup.setVolume({
      metadata: { name: 'pv-nfs' },
      spec: { claimRef: { namespace: 'team', name: 'nfs', uid: 'uid-nfs' } },
    });
    const plugin = newPlugin();
    const other: k8s.Volume = { name: 'd', persistentVolumeClaim: { claimName: 'other' } };
    await expect(plugin.setUp(pod('a', [other]), other)).rejects.toThrow(
      'the PV "pv-1" is not bound to PVC team/other',
    );
    const nfs: k8s.Volume = { name: 'd', persistentVolumeClaim: { claimName: 'nfs' } };
    await expect(plugin.setUp(pod('a', [nfs]), nfs)).rejects.toThrow(
      'persistentvolume "pv-nfs" is not a CSI volume',
    );
  });

  it('driver not registered → kubelet wording; missing secret → clear error', async () => {
    const plugin = newPlugin();
    const v: k8s.Volume = { name: 'v', csi: { driver: 'nope.example.com' } };
    await expect(plugin.setUp(pod('a', [v]), v)).rejects.toThrow(
      'driver name nope.example.com not found in the list of registered CSI drivers',
    );
    const s: k8s.Volume = {
      name: 'v',
      csi: { driver: DRIVER, nodePublishSecretRef: { name: 'gone' } },
    };
    await expect(plugin.setUp(pod('a', [s]), s)).rejects.toThrow(
      'fetching NodePublishSecretRef team/gone failed: secret "gone" not found',
    );
    expect(driver.calls).toEqual([]);
  });

  it.each(['a/b', '../etc', 'x\\y', '', 'a\u0000b', 'x'.repeat(129)])(
    'volume handle %j is refused before any mount',
    async (handle) => {
      expect(() => validateVolumeHandle(handle)).toThrow(/invalid CSI volume handle/);
      lookup.setClaim(claim('bad', 'pv-bad'));
      lookup.setVolume(pv('pv-bad', handle, 'bad'));
      const plugin = newPlugin();
      const vol: k8s.Volume = { name: 'd', persistentVolumeClaim: { claimName: 'bad' } };
      const err = await plugin.setUp(pod('a', [vol]), vol).catch((e: unknown) => e);
      expect(isNodeAgentError(err, 'InvalidArgument')).toBe(true);
      expect(driver.calls).toEqual([]);
      expect(await exists(join(root, 'pods'))).toBe(false);
      expect(await exists(join(root, 'plugins'))).toBe(false);
    },
  );

  it('a driver error fails set-up (dirs removed), and a retry succeeds once the driver recovers', async () => {
    const plugin = newPlugin({ stageEphemeralVolumes: false });
    const v: k8s.Volume = { name: 'v', csi: { driver: DRIVER } };
    const p = pod('a', [v]);
    driver.failWith = new UnavailableError('backend down');
    // Unavailable is not final (kubelet): the target stays known as uncertain.
    await expect(plugin.setUp(p, v)).rejects.toThrow('NodePublishVolume failed: backend down');
    driver.failWith = Object.assign(new NotFoundError('no such share'), {});
    await expect(plugin.setUp(p, v)).rejects.toThrow('NodePublishVolume failed: no such share');
    // A final error leaves no directory behind.
    expect(await exists(join(root, 'pods/a/volumes/kubernetes.io~csi/v'))).toBe(false);
    expect(plugin.manager.publishedVolumes('a')).toEqual([]);
    driver.failWith = undefined;
    const m = await plugin.setUp(p, v);
    expect(m.path).toBe(publishTargetPath(root, 'a', 'v'));
    expect(plugin.manager.publishedVolumes('a')[0]?.state).toBe('mounted');
  });

  it('a hanging driver is bounded by the operation timeout; the uncertain volume is torn down', async () => {
    const plugin = newPlugin({ stageEphemeralVolumes: false });
    const v: k8s.Volume = { name: 'v', csi: { driver: DRIVER } };
    const p = pod('a', [v]);
    // Capabilities answer, then publish hangs.
    const caps = driver.nodeGetCapabilities.bind(driver);
    driver.nodeGetCapabilities = async () => {
      const r = await caps();
      driver.hang = true;
      return r;
    };
    const pending = plugin.setUp(p, v).catch((e: unknown) => e);
    // Wait until the publish call is in flight (after real directory I/O).
    await vi.waitFor(() => expect(driver.calls.at(-1)?.[0]).toBe('NodePublishVolume'));
    await clock.advance(4_999);
    expect(driver.calls.at(-1)?.[0]).toBe('NodePublishVolume');
    let settled = false;
    void pending.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await clock.advance(1);
    const err = await pending;
    expect(isNodeAgentError(err, 'DeadlineExceeded')).toBe(true);
    expect((err as Error).message).toMatch(
      /NodePublishVolume failed: .*did not answer within 5000 ms/,
    );
    expect(plugin.manager.publishedVolumes('a')).toMatchObject([{ state: 'uncertain' }]);
    expect(clock.pendingTimers()).toBe(0);

    driver.hang = false;
    driver.nodeGetCapabilities = caps;
    await plugin.tearDownPod(p);
    expect(driver.names().at(-1)).toBe('NodeUnpublishVolume');
    expect(plugin.manager.publishedVolumes()).toEqual([]);
  });

  it('teardown fails (and is retried) while the driver is gone', async () => {
    const plugin = newPlugin();
    const v: k8s.Volume = { name: 'v', csi: { driver: DRIVER } };
    const p = pod('a', [v]);
    await plugin.setUp(p, v);
    registry.drivers.delete(DRIVER);
    await expect(plugin.tearDownPod(p)).rejects.toThrow(
      'driver name hostpath.csi.example.com not found in the list of registered CSI drivers',
    );
    expect(mounts.points.size).toBe(2); // staged + published
    registry.drivers.set(DRIVER, driver);
    await plugin.tearDownPod(p);
    expect(mounts.points.size).toBe(0);
  });

  it('reconstructs after a restart: keeps desired pods, cleans up the rest', async () => {
    const first = newPlugin();
    const vol: k8s.Volume = { name: 'data', persistentVolumeClaim: { claimName: 'data' } };
    const inline: k8s.Volume = { name: 'tmp', csi: { driver: DRIVER } };
    const a = pod('a', [vol, inline]);
    const b = pod('b', [vol]);
    await first.setUp(a, vol);
    await first.setUp(a, inline);
    await first.setUp(b, vol);
    expect(mounts.points.size).toBe(5); // 2 staged, 3 published
    driver.calls = [];

    // A new process: state comes from vol_data.json and the mount table.
    const second = newPlugin();
    const result = await second.reconstruct([b]);
    expect(result.errors).toEqual([]);
    expect(result.kept.map((k) => k.targetPath)).toEqual([publishTargetPath(root, 'b', 'pv-1')]);
    expect(result.unpublished.sort()).toEqual(
      [publishTargetPath(root, 'a', 'pv-1'), publishTargetPath(root, 'a', 'tmp')].sort(),
    );
    // b still uses the claim's staged volume; a's inline volume is unstaged.
    expect(result.unstaged).toEqual([
      stagingTargetPath(root, DRIVER, makeEphemeralVolumeHandle('a', 'tmp')),
    ]);
    expect(driver.names().sort()).toEqual([
      'NodeUnpublishVolume',
      'NodeUnpublishVolume',
      'NodeUnstageVolume',
    ]);
    expect(await exists(join(root, 'pods/a/volumes/kubernetes.io~csi'))).toBe(false);

    // The kept volume is not published again; teardown of b unstages.
    await second.setUp(b, vol);
    expect(driver.names()).toHaveLength(3);
    await second.tearDownPod(b);
    expect(driver.names().slice(3)).toEqual(['NodeUnpublishVolume', 'NodeUnstageVolume']);
    expect(mounts.points.size).toBe(0);
    expect(await readdir(join(root, 'plugins/kubernetes.io/csi', DRIVER))).toEqual([]);
  });

  it('a restarted agent tears down a pod it never set up (orphan) from vol_data.json', async () => {
    const v: k8s.Volume = { name: 'v', csi: { driver: DRIVER } };
    await newPlugin().setUp(pod('a', [v]), v);
    const fresh = newPlugin();
    await fresh.tearDownPod({
      metadata: { name: 'a', namespace: 'team', uid: 'a' },
      spec: { containers: [] },
    });
    expect(mounts.points.size).toBe(0);
  });

  it('volume stats through NodeGetVolumeStats, with pvcRef for claims', async () => {
    const plugin = newPlugin();
    const vol: k8s.Volume = { name: 'data', persistentVolumeClaim: { claimName: 'data' } };
    const p = pod('a', [vol, { name: 'e', emptyDir: {} }]);
    await plugin.setUp(p, vol);
    const stats = await plugin.volumeStats(p);
    expect(stats).toEqual([
      {
        name: 'data',
        time: '2026-01-01T00:00:00Z',
        capacityBytes: 1000,
        availableBytes: 700,
        usedBytes: 300,
        inodes: 100,
        inodesFree: 90,
        inodesUsed: 10,
        pvcRef: { name: 'data', namespace: 'team' },
      },
    ]);
    driver.getVolumeStats = false;
    expect(await plugin.volumeStats(p)).toEqual([]);
  });
});
