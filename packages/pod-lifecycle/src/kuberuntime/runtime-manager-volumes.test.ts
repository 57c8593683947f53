/**
 * RuntimeManager with ConfigMap/Secret/downward-API/projected volumes and env: fake
 * managers, the in-memory runtime, a fake tmpfs mounter and a real temp directory.
 * Syncs are awaited directly (no timers involved); time is a FakeClock.
 */
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NotFoundError,
  type ConfigMapManager,
  type EventRecorder,
  type SecretManager,
  type cri,
  type k8s,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager } from '../runtime-manager.js';
import type { TmpfsMounter } from './volume-mounter.js';

class FakeObjects implements ConfigMapManager, SecretManager {
  configMaps = new Map<string, k8s.ConfigMap>();
  secrets = new Map<string, k8s.Secret>();
  registered = new Map<string, number>();
  calls = 0;
  async getConfigMap(namespace: string, name: string): Promise<k8s.ConfigMap> {
    this.calls++;
    const cm = this.configMaps.get(`${namespace}/${name}`);
    if (!cm) throw new NotFoundError(`configmap "${name}" not found`);
    return structuredClone(cm);
  }
  async getSecret(namespace: string, name: string): Promise<k8s.Secret> {
    this.calls++;
    const s = this.secrets.get(`${namespace}/${name}`);
    if (!s) throw new NotFoundError(`secret "${name}" not found`);
    return structuredClone(s);
  }
  registerPod(pod: k8s.Pod): void {
    const uid = pod.metadata.uid ?? '';
    this.registered.set(uid, (this.registered.get(uid) ?? 0) + 1);
  }
  unregisterPod(pod: k8s.Pod): void {
    this.registered.delete(pod.metadata.uid ?? '');
  }
}

class FakeMounter implements TmpfsMounter {
  mounts = new Set<string>();
  log: string[] = [];
  failMount = false;
  async mountTmpfs(path: string): Promise<void> {
    if (this.failMount) throw new Error('mount: permission denied');
    this.mounts.add(path);
    this.log.push(`mount ${path}`);
  }
  async unmount(path: string): Promise<void> {
    this.mounts.delete(path);
    this.log.push(`umount ${path}`);
  }
  async mountPointsUnder(dir: string): Promise<string[]> {
    return [...this.mounts].filter((m) => m === dir || m.startsWith(`${dir}/`));
  }
}

interface Event {
  type: string;
  reason: string;
  message: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('RuntimeManager: ConfigMap, Secret, downward-API and projected volumes and env', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let objects: FakeObjects;
  let mounter: FakeMounter;
  let events: Event[];
  let created: cri.ContainerConfigInput[];
  let manager: RuntimeManager;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-volumes-'));
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    created = [];
    const createContainer = runtime.createContainer.bind(runtime);
    runtime.createContainer = async (req, opts) => {
      if (req?.config) created.push(req.config);
      return createContainer(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
    objects = new FakeObjects();
    mounter = new FakeMounter();
    events = [];
    const recorder: EventRecorder = {
      event: (_ref, type, reason, message) => {
        if (type === 'Warning') events.push({ type, reason, message });
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
      configMaps: objects,
      secrets: objects,
      volumeMounter: mounter,
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
  const volDir = (uid: string, plugin: string, name: string) =>
    join(dir, 'root', 'pods', uid, 'volumes', `kubernetes.io~${plugin}`, name);
  const running = (uid: string) =>
    runtime
      .listContainersNow()
      .filter((c) => c.labels['io.kubernetes.pod.uid'] === uid && c.state === 'CONTAINER_RUNNING');

  function thePod(
    uid: string,
    extra: Partial<k8s.PodSpec> = {},
    c: Partial<k8s.Container> = {},
  ): k8s.Pod {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: uid, namespace: 'team', uid, labels: { app: 'web', tier: 'a' } },
      spec: {
        hostNetwork: true,
        containers: [{ name: 'main', image: 'busybox:1', command: ['sleep', '3600'], ...c }],
        ...extra,
      },
    };
  }

  it('a missing ConfigMap: FailedMount, ContainerCreating, no sandbox; starts once it exists', async () => {
    const pod = thePod('p1', {
      volumes: [{ name: 'cfg', configMap: { name: 'app' } }],
    });
    const result = await sync(pod);
    expect(events).toEqual([
      {
        type: 'Warning',
        reason: 'FailedMount',
        message: 'MountVolume.SetUp failed for volume "cfg" : configmap "app" not found',
      },
    ]);
    expect(runtime.listSandboxesNow()).toHaveLength(0);
    expect(result.retryAfterMs).toBe(500 + 50);
    const status = manager.podStatus('p1');
    expect(status?.phase).toBe('Pending');
    expect(status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    // Registered once with each manager (FakeObjects is both).
    expect(objects.registered.get('p1')).toBe(2);
    await sync(pod);
    expect(objects.registered.get('p1')).toBe(2); // same pod object: not again

    // Retried with back-off: 0.5 s, 1 s, 2 s …
    await clock.advance(600);
    expect((await sync(pod)).retryAfterMs).toBe(1_000 + 50);
    expect(events).toHaveLength(2);
    // A sync inside the back-off window does not retry the mount.
    const calls = objects.calls;
    expect((await sync(pod)).retryAfterMs).toBeLessThanOrEqual(1_000 + 50);
    expect(objects.calls).toBe(calls);
    expect(events).toHaveLength(2);

    objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: { 'a.conf': 'v1' } });
    await clock.advance(1_100);
    await sync(pod);
    expect(running('p1')).toHaveLength(1);
    expect(await readFile(join(volDir('p1', 'configmap', 'cfg'), 'a.conf'), 'utf8')).toBe('v1');
    // No volume mount (the container mounts none); only the kubelet's own files.
    expect(created[0]?.mounts?.map((m) => m.containerPath)).toEqual([
      '/etc/hosts',
      '/dev/termination-log',
    ]);
    expect(mounter.log).toEqual([]); // configMap volumes stay on disk
  });

  it('refreshes changed contents on a later sync, only rewriting when they differ', async () => {
    objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: { k: 'one' } });
    const pod = thePod(
      'p2',
      { volumes: [{ name: 'cfg', configMap: { name: 'app' } }] },
      { volumeMounts: [{ name: 'cfg', mountPath: '/etc/app' }] },
    );
    await sync(pod);
    const path = volDir('p2', 'configmap', 'cfg');
    const first = await readlink(join(path, '..data'));
    expect(created[0]?.mounts?.[0]).toMatchObject({
      containerPath: '/etc/app',
      hostPath: path,
      readonly: true,
    });
    await sync(pod);
    expect(await readlink(join(path, '..data'))).toBe(first);
    objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: { k: 'two' } });
    await sync(pod);
    expect(await readlink(join(path, '..data'))).not.toBe(first);
    expect(await readFile(join(path, 'k'), 'utf8')).toBe('two');
    // Deleting the object later keeps the volume and the pod; it only raises events.
    objects.configMaps.delete('team/app');
    await sync(pod);
    expect(await readFile(join(path, 'k'), 'utf8')).toBe('two');
    expect(events.at(-1)?.reason).toBe('FailedMount');
    expect(running('p2')).toHaveLength(1);
  });

  it('secret, downwardAPI and projected volumes on tmpfs; cleanup unmounts before removing the pod dir', async () => {
    objects.secrets.set('team/creds', {
      metadata: { name: 'creds' },
      data: { password: b64('hunter2') },
    });
    objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: { mode: 'fast' } });
    const pod = thePod('p3', {
      volumes: [
        { name: 'sec', secret: { secretName: 'creds', defaultMode: 0o400 } },
        {
          name: 'info',
          downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] },
        },
        {
          name: 'all',
          projected: {
            sources: [
              { configMap: { name: 'app', items: [{ key: 'mode', path: 'cfg/mode' }] } },
              { secret: { name: 'creds' } },
              {
                downwardAPI: {
                  items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }],
                },
              },
            ],
          },
        },
      ],
    });
    await sync(pod);
    expect(running('p3')).toHaveLength(1);
    expect(events).toEqual([]);
    const sec = volDir('p3', 'secret', 'sec');
    const info = volDir('p3', 'downward-api', 'info');
    const all = volDir('p3', 'projected', 'all');
    expect([...mounter.mounts].sort()).toEqual([all, info, sec].sort());
    expect(await readFile(join(sec, 'password'), 'utf8')).toBe('hunter2');
    expect((await lstat(join(sec, '..data', 'password'))).mode & 0o777).toBe(0o400);
    expect(await readFile(join(info, 'labels'), 'utf8')).toBe('app="web"\ntier="a"');
    expect(await readFile(join(all, 'cfg/mode'), 'utf8')).toBe('fast');
    expect(await readFile(join(all, 'password'), 'utf8')).toBe('hunter2');
    expect(await readFile(join(all, 'name'), 'utf8')).toBe('p3');

    // Labels change → the downward-API file follows on the next sync.
    const relabelled = { ...pod, metadata: { ...pod.metadata, labels: { app: 'web', tier: 'b' } } };
    await sync(relabelled);
    expect(await readFile(join(info, 'labels'), 'utf8')).toBe('app="web"\ntier="b"');
    expect(objects.registered.get('p3')).toBe(4); // a changed pod is registered again

    await manager.syncTerminatingPod(relabelled, {}, { signal, statusNewerThanMs: 0 });
    await manager.syncTerminatedPod(
      relabelled,
      { reason: 'Deleted' },
      { signal, statusNewerThanMs: 0 },
    );
    expect(mounter.mounts.size).toBe(0);
    expect(mounter.log.filter((l) => l.startsWith('umount'))).toHaveLength(3);
    await expect(lstat(join(dir, 'root', 'pods', 'p3'))).rejects.toThrow(/ENOENT/);
    expect(objects.registered.has('p3')).toBe(false);
  });

  it('a failing tmpfs mount falls back to disk with a warning', async () => {
    mounter.failMount = true;
    objects.secrets.set('team/creds', { metadata: { name: 'creds' }, data: { k: b64('v') } });
    const pod = thePod('p4', { volumes: [{ name: 'sec', secret: { secretName: 'creds' } }] });
    await sync(pod);
    expect(running('p4')).toHaveLength(1);
    expect(await readFile(join(volDir('p4', 'secret', 'sec'), 'k'), 'utf8')).toBe('v');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'FailedMount' });
    expect(events[0]?.message).toMatch(/could not mount a tmpfs.*permission denied/);
    await sync(pod);
    expect(events).toHaveLength(1);
  });

  it.each([
    [
      'a listed key that is missing',
      { name: 'v', configMap: { name: 'app', items: [{ key: 'nope', path: 'x' }] } },
      'MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: nope',
    ],
    [
      'an item path with ..',
      { name: 'v', configMap: { name: 'app', items: [{ key: 'k', path: '../../etc/x' }] } },
      'MountVolume.SetUp failed for volume "v" : invalid path: must not contain \'..\': ../../etc/x',
    ],
    [
      'a csi volume',
      { name: 'v', csi: { driver: 'x.example.com' } },
      'MountVolume.SetUp failed for volume "v" : volume source "csi" is not supported by nodeagent (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)',
    ],
    [
      'a persistentVolumeClaim',
      { name: 'v', persistentVolumeClaim: { claimName: 'data' } },
      'MountVolume.SetUp failed for volume "v" : volume source "persistentVolumeClaim" is not supported by nodeagent (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)',
    ],
    [
      'a serviceAccountToken projection',
      { name: 'v', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
      'MountVolume.SetUp failed for volume "v" : failed to fetch token: cannot use TokenManager when kubelet is in standalone mode (no API server to request a token for service account "team/default")',
    ],
  ] as [string, k8s.Volume, string][])(
    '%s → FailedMount, pod held in ContainerCreating',
    async (_n, volume, message) => {
      objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: { k: 'v' } });
      const pod = thePod('p5', { volumes: [volume] });
      await sync(pod);
      expect(events.map((e) => e.message)).toEqual([message]);
      expect(runtime.listSandboxesNow()).toHaveLength(0);
      expect(manager.podStatus('p5')?.containerStatuses?.[0]?.state?.waiting?.reason).toBe(
        'ContainerCreating',
      );
    },
  );

  it('optional: a missing object gives an empty volume', async () => {
    const pod = thePod('p6', {
      volumes: [
        { name: 'cfg', configMap: { name: 'gone', optional: true } },
        {
          name: 'sec',
          secret: { secretName: 'gone', optional: true, items: [{ key: 'a', path: 'a' }] },
        },
      ],
    });
    await sync(pod);
    expect(events).toEqual([]);
    expect(running('p6')).toHaveLength(1);
    await expect(lstat(join(volDir('p6', 'configmap', 'cfg'), '..data'))).resolves.toBeDefined();
  });

  it('env: CreateContainerConfigError with the kubelet message until the object exists', async () => {
    const pod = thePod(
      'p7',
      {},
      {
        envFrom: [{ secretRef: { name: 'creds' }, prefix: 'DB_' }],
        env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app', key: 'mode' } } }],
      },
    );
    objects.secrets.set('team/creds', {
      metadata: { name: 'creds' },
      data: { USER: b64('admin') },
    });
    const first = await sync(pod);
    const waiting = manager.podStatus('p7')?.containerStatuses?.[0]?.state?.waiting;
    expect(waiting).toEqual({
      reason: 'CreateContainerConfigError',
      message: 'configmap "app" not found',
    });
    expect(events.at(-1)).toEqual({
      type: 'Warning',
      reason: 'Failed',
      message: 'Error: configmap "app" not found',
    });
    expect(first.retryAfterMs).toBe(10_000 + 50);

    objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: {} });
    await sync(pod);
    expect(manager.podStatus('p7')?.containerStatuses?.[0]?.state?.waiting?.message).toBe(
      "couldn't find key mode in ConfigMap team/app",
    );

    objects.configMaps.set('team/app', { metadata: { name: 'app' }, data: { mode: 'fast' } });
    await sync(pod);
    expect(running('p7')).toHaveLength(1);
    const envs = Object.fromEntries(
      (created.at(-1)?.envs ?? []).map((e) => [
        e.key,
        Buffer.from(e.value as Uint8Array).toString(),
      ]),
    );
    expect(envs).toEqual({ DB_USER: 'admin', MODE: 'fast' });
  });

  it('env: invalid envFrom keys are skipped with an InvalidEnvironmentVariableNames event', async () => {
    objects.configMaps.set('team/app', {
      metadata: { name: 'app' },
      data: { ok: '1', 'a=b': '2' },
    });
    const pod = thePod('p8', {}, { envFrom: [{ configMapRef: { name: 'app' } }] });
    await sync(pod);
    expect(running('p8')).toHaveLength(1);
    expect(events).toContainEqual({
      type: 'Warning',
      reason: 'InvalidEnvironmentVariableNames',
      message:
        'Keys [a=b] from the EnvFrom configMap team/app were skipped since they are considered invalid environment variable names.',
    });
  });
});
