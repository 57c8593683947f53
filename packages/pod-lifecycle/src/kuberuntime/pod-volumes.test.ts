/**
 * RuntimeManager delegating csi / persistentVolumeClaim volumes to a PodVolumePlugin:
 * a fake plugin, the in-memory runtime, a fake tmpfs mounter and a real temp
 * directory. Time is a FakeClock.
 */
import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  UnavailableError,
  type EventRecorder,
  type MountedVolume,
  type PodVolumePlugin,
  type cri,
  type k8s,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager } from '../runtime-manager.js';
import { isReadOnlyVolume } from './volumes.js';
import type { TmpfsMounter } from './volume-mounter.js';

class FakeMounter implements TmpfsMounter {
  mounts = new Set<string>();
  async mountTmpfs(path: string): Promise<void> {
    this.mounts.add(path);
  }
  async unmount(path: string): Promise<void> {
    this.mounts.delete(path);
  }
  async mountPointsUnder(dir: string): Promise<string[]> {
    return [...this.mounts].filter((m) => m === dir || m.startsWith(`${dir}/`));
  }
}

/** A plugin that "mounts" by creating a directory and a marker file under the pod dir. */
class FakeCsiPlugin implements PodVolumePlugin {
  readonly name = 'kubernetes.io/csi';
  log: string[] = [];
  fail: Error | undefined;
  failTearDown: Error | undefined;
  /** Mounted paths by pod UID. */
  mounted = new Map<string, Set<string>>();
  constructor(private readonly root: string) {}
  canSupport(_pod: k8s.Pod, volume: k8s.Volume): boolean {
    return !!(volume.csi || volume.persistentVolumeClaim);
  }
  async setUp(pod: k8s.Pod, volume: k8s.Volume): Promise<MountedVolume> {
    const uid = pod.metadata.uid ?? '';
    this.log.push(`setUp ${uid}/${volume.name}`);
    if (this.fail) throw this.fail;
    const dirName = volume.persistentVolumeClaim
      ? `pv-${volume.persistentVolumeClaim.claimName}`
      : volume.name;
    const path = join(this.root, 'pods', uid, 'volumes', 'kubernetes.io~csi', dirName, 'mount');
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'data'), 'precious');
    let set = this.mounted.get(uid);
    if (!set) this.mounted.set(uid, (set = new Set()));
    set.add(path);
    return volume.csi?.readOnly ? { path, readOnly: true } : { path };
  }
  async tearDownPod(pod: k8s.Pod): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    this.log.push(`tearDown ${uid}`);
    if (this.failTearDown) throw this.failTearDown;
    for (const path of this.mounted.get(uid) ?? []) await rm(join(path, '..'), { recursive: true });
    this.mounted.delete(uid);
  }
}

describe('RuntimeManager with volume plugins (csi, persistentVolumeClaim)', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let plugin: FakeCsiPlugin;
  let events: string[];
  let created: cri.ContainerConfigInput[];
  let manager: RuntimeManager;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-plugins-'));
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    created = [];
    const createContainer = runtime.createContainer.bind(runtime);
    runtime.createContainer = async (req, opts) => {
      if (req?.config) created.push(req.config);
      return createContainer(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
    plugin = new FakeCsiPlugin(join(dir, 'root'));
    events = [];
    const recorder: EventRecorder = {
      event: (_ref, type, reason, message) => {
        if (type === 'Warning') events.push(`${reason}: ${message}`);
      },
    };
    manager = new RuntimeManager({
      runtime,
      images: runtime,
      cache: pleg.cache,
      clock,
      recorder,
      nodeName: 'node-1',
      rootDir: join(dir, 'root'),
      podLogsDir: join(dir, 'logs'),
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      volumeMounter: new FakeMounter(),
      volumePlugins: [plugin],
    });
  });
  afterEach(async () => {
    await pleg.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const signal = new AbortController().signal;
  async function sync(pod: k8s.Pod) {
    await pleg.relist();
    return manager.syncPod(pod, 'sync', { signal, statusNewerThanMs: 0 });
  }
  function thePod(uid: string, volumes: k8s.Volume[], mounts: k8s.VolumeMount[]): k8s.Pod {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: uid, namespace: 'team', uid },
      spec: {
        hostNetwork: true,
        volumes,
        containers: [
          { name: 'main', image: 'busybox:1', command: ['sleep', '3600'], volumeMounts: mounts },
        ],
      },
    };
  }
  const csiDir = (uid: string, name: string) =>
    join(dir, 'root', 'pods', uid, 'volumes', 'kubernetes.io~csi', name, 'mount');

  it('csi and claim volumes are set up by the plugin before the sandbox and bound into containers', async () => {
    const pod = thePod(
      'p1',
      [
        { name: 'scratch', csi: { driver: 'd.example.com', readOnly: true } },
        { name: 'data', persistentVolumeClaim: { claimName: 'claim' } },
      ],
      [
        { name: 'scratch', mountPath: '/scratch' },
        { name: 'data', mountPath: '/data' },
      ],
    );
    await sync(pod);
    expect(events).toEqual([]);
    expect(plugin.log).toEqual(['setUp p1/scratch', 'setUp p1/data']);
    expect(created[0]?.mounts).toEqual([
      expect.objectContaining({
        containerPath: '/scratch',
        hostPath: csiDir('p1', 'scratch'),
        readonly: true,
      }),
      expect.objectContaining({
        containerPath: '/data',
        hostPath: csiDir('p1', 'pv-claim'),
        readonly: false,
      }),
      // The kubelet's own files come after the volumes.
      expect.objectContaining({ containerPath: '/etc/hosts', readonly: false }),
      expect.objectContaining({ containerPath: '/dev/termination-log' }),
    ]);
    // Called again on later syncs (the plugin is idempotent).
    await sync(pod);
    expect(plugin.log.filter((l) => l.startsWith('setUp'))).toHaveLength(4);
  });

  it('a plugin failure is a FailedMount with back-off; the pod starts once it recovers', async () => {
    plugin.fail = new UnavailableError('NodePublishVolume failed: driver busy');
    const pod = thePod(
      'p2',
      [{ name: 'v', csi: { driver: 'd.example.com' } }],
      [{ name: 'v', mountPath: '/v' }],
    );
    const result = await sync(pod);
    expect(events).toEqual([
      'FailedMount: MountVolume.SetUp failed for volume "v" : NodePublishVolume failed: driver busy',
    ]);
    expect(runtime.listSandboxesNow()).toHaveLength(0);
    expect(result.retryAfterMs).toBe(500 + 50);
    expect(manager.podStatus('p2')?.containerStatuses?.[0]?.state?.waiting?.reason).toBe(
      'ContainerCreating',
    );
    // Inside the back-off window nothing is retried.
    await sync(pod);
    expect(plugin.log).toEqual(['setUp p2/v']);
    plugin.fail = undefined;
    await clock.advance(600);
    await sync(pod);
    expect(runtime.listSandboxesNow()).toHaveLength(1);
    expect(created[0]?.mounts?.[0]?.hostPath).toBe(csiDir('p2', 'v'));
  });

  it('pod removal tears plugin volumes down before the pod directory goes (never recursing into a mount)', async () => {
    const pod = thePod(
      'p3',
      [{ name: 'v', csi: { driver: 'd.example.com' } }],
      [{ name: 'v', mountPath: '/v' }],
    );
    await sync(pod);
    plugin.failTearDown = new Error('NodeUnpublishVolume failed: busy');
    await manager.syncTerminatingPod(pod, {}, { signal, statusNewerThanMs: 0 });
    await expect(
      manager.syncTerminatedPod(pod, { reason: 'Deleted' }, { signal, statusNewerThanMs: 0 }),
    ).rejects.toThrow('NodeUnpublishVolume failed: busy');
    // The volume (a mount on a real node) was not removed from under the driver.
    await lstat(join(csiDir('p3', 'v'), 'data'));
    plugin.failTearDown = undefined;
    await manager.syncTerminatedPod(pod, { reason: 'Deleted' }, { signal, statusNewerThanMs: 0 });
    expect(plugin.log.filter((l) => l.startsWith('tearDown'))).toEqual([
      'tearDown p3',
      'tearDown p3',
    ]);
    await expect(lstat(join(dir, 'root', 'pods', 'p3'))).rejects.toThrow(/ENOENT/);
  });

  it('an orphan without a spec (found after a restart) is torn down through the plugins too', async () => {
    const pod = thePod(
      'p4',
      [{ name: 'v', csi: { driver: 'd.example.com' } }],
      [{ name: 'v', mountPath: '/v' }],
    );
    await sync(pod);
    await manager.syncTerminatingPod(pod, {}, { signal, statusNewerThanMs: 0 });
    await manager.removePodResources({
      metadata: { name: 'p4', namespace: 'team', uid: 'p4' },
      spec: { containers: [] },
    });
    expect(plugin.log).toContain('tearDown p4');
    expect(plugin.mounted.has('p4')).toBe(false);
    await expect(lstat(join(dir, 'root', 'pods', 'p4'))).rejects.toThrow(/ENOENT/);
  });

  it('without a plugin for them, csi volumes still fail as unsupported', async () => {
    const bare = new RuntimeManager({
      runtime,
      images: runtime,
      cache: pleg.cache,
      clock,
      recorder: { event: (_r, _t, reason, message) => events.push(`${reason}: ${message}`) },
      nodeName: 'node-1',
      rootDir: join(dir, 'root2'),
      podLogsDir: join(dir, 'logs'),
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      volumeMounter: new FakeMounter(),
      volumePlugins: [],
    });
    const pod = thePod('p5', [{ name: 'v', csi: { driver: 'd' } }], []);
    await pleg.relist();
    await bare.syncPod(pod, 'sync', { signal, statusNewerThanMs: 0 });
    expect(events[0]).toMatch(/volume source "csi" is not supported by nodeagent/);
  });

  it('isReadOnlyVolume: csi and claim volumes marked readOnly', () => {
    expect(isReadOnlyVolume({ name: 'a', csi: { driver: 'd', readOnly: true } })).toBe(true);
    expect(isReadOnlyVolume({ name: 'a', csi: { driver: 'd' } })).toBe(false);
    expect(
      isReadOnlyVolume({ name: 'a', persistentVolumeClaim: { claimName: 'c', readOnly: true } }),
    ).toBe(true);
  });
});
