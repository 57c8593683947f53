/**
 * ConfigMap and Secret volumes and env on the real containerd, through the
 * RuntimeManager: a missing ConfigMap holds the pod in ContainerCreating with a
 * FailedMount event, the pod starts once it exists, `cat` in the container shows the
 * files and `env` the values, a ConfigMap update reaches the container on a later
 * sync, and cleanup leaves no tmpfs mount behind.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  NotFoundError,
  type ConfigMapManager,
  type SecretManager,
  type k8s,
} from '@nodeagent/core';
import type { CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeManager } from '../runtime-manager.js';
import { RealRuntimeHarness } from '../test-support/real-runtime-manager.js';
import { nodeTmpfsMounter, parseMountInfo } from './volume-mounter.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-config-volumes' };

class MemoryObjects implements ConfigMapManager, SecretManager {
  configMaps = new Map<string, k8s.ConfigMap>();
  secrets = new Map<string, k8s.Secret>();
  registered = new Set<string>();
  async getConfigMap(namespace: string, name: string): Promise<k8s.ConfigMap> {
    const cm = this.configMaps.get(`${namespace}/${name}`);
    if (!cm) throw new NotFoundError(`configmap "${name}" not found`);
    return structuredClone(cm);
  }
  async getSecret(namespace: string, name: string): Promise<k8s.Secret> {
    const s = this.secrets.get(`${namespace}/${name}`);
    if (!s) throw new NotFoundError(`secret "${name}" not found`);
    return structuredClone(s);
  }
  registerPod(pod: k8s.Pod): void {
    this.registered.add(pod.metadata.uid ?? '');
  }
  unregisterPod(pod: k8s.Pod): void {
    this.registered.delete(pod.metadata.uid ?? '');
  }
}

const uid = randomUUID();
const namespace = 'config-volumes-it';
const pod: k8s.Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'config-volumes', namespace, uid, labels: { ...suiteLabel } },
  spec: {
    hostNetwork: true,
    terminationGracePeriodSeconds: 2,
    volumes: [
      { name: 'cfg', configMap: { name: 'app' } },
      { name: 'sec', secret: { secretName: 'creds', defaultMode: 0o400 } },
    ],
    containers: [
      {
        name: 'app',
        image: env.busyboxImage,
        command: ['sleep', '3600'],
        envFrom: [{ secretRef: { name: 'creds' }, prefix: 'DB_' }],
        env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app', key: 'mode' } } }],
        volumeMounts: [
          { name: 'cfg', mountPath: '/etc/app' },
          { name: 'sec', mountPath: '/etc/creds' },
        ],
      },
    ],
  },
};

let harness: RealRuntimeHarness;
let cri: CriClient;
let manager: RuntimeManager;
let rootDir: string;
let events: RealRuntimeHarness['events'];
const objects = new MemoryObjects();

async function sync(): Promise<void> {
  await harness.sync(manager, pod);
}

async function runningContainerId(): Promise<string | undefined> {
  const { containers } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } },
  });
  return containers.find((c) => c.state === 'CONTAINER_RUNNING')?.id;
}

async function exec(cmd: string[]): Promise<string> {
  const containerId = await runningContainerId();
  if (!containerId) throw new Error('no running container');
  const r = await cri.execSync({ containerId, cmd, timeout: 10 });
  return Buffer.from(r.stdout).toString('utf8');
}

async function mountsUnderRoot(): Promise<string[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')).filter((m) =>
    m.startsWith(`${rootDir}/`),
  );
}

beforeAll(async () => {
  harness = await RealRuntimeHarness.open({ suiteLabel, rootDirPrefix: 'config-volumes-it-' });
  ({ cri, rootDir, events } = harness);
  manager = harness.manager({
    configMaps: objects,
    secrets: objects,
    volumeMounter: nodeTmpfsMounter,
  });
});

afterAll(() =>
  harness?.close(async () => {
    for (const m of (await mountsUnderRoot()).sort((a, b) => b.length - a.length))
      await nodeTmpfsMounter.unmount(m).catch(() => undefined);
  }),
);

describe('ConfigMap and Secret volumes and env on containerd', () => {
  it('a missing ConfigMap: FailedMount, ContainerCreating, no sandbox', async () => {
    objects.secrets.set(`${namespace}/creds`, {
      metadata: { name: 'creds', namespace },
      data: {
        USER: Buffer.from('admin').toString('base64'),
        password: Buffer.from('hunter2').toString('base64'),
      },
    });
    await sync();
    expect(events.filter((e) => e.reason === 'FailedMount').map((e) => e.message)).toEqual([
      'MountVolume.SetUp failed for volume "cfg" : configmap "app" not found',
    ]);
    expect(manager.podStatus(uid)?.containerStatuses?.[0]?.state?.waiting?.reason).toBe(
      'ContainerCreating',
    );
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
    expect(items).toEqual([]);
    expect(objects.registered.has(uid)).toBe(true);
  });

  it('starts once the ConfigMap exists: files via cat, values via env, secret on tmpfs', async () => {
    objects.configMaps.set(`${namespace}/app`, {
      metadata: { name: 'app', namespace },
      data: { mode: 'fast', 'app.conf': 'port=8080\n' },
    });
    // The mount back-off (0.5 s) must pass before the retry.
    await new Promise((r) => setTimeout(r, 600));
    await sync();
    expect(await runningContainerId()).toBeDefined();
    expect(await exec(['cat', '/etc/app/app.conf'])).toBe('port=8080\n');
    expect(await exec(['cat', '/etc/app/mode'])).toBe('fast');
    expect(await exec(['cat', '/etc/creds/password'])).toBe('hunter2');
    expect(await exec(['stat', '-L', '-c', '%a', '/etc/creds/password'])).toBe('400\n');
    const envLines = (await exec(['env'])).split('\n');
    expect(envLines).toContain('MODE=fast');
    expect(envLines).toContain('DB_USER=admin');
    expect(envLines).toContain('DB_password=hunter2');
    // Read-only in the container.
    const write = await cri.execSync({
      containerId: (await runningContainerId())!,
      cmd: ['sh', '-c', 'echo x > /etc/app/new'],
      timeout: 10,
    });
    expect(write.exitCode).not.toBe(0);
    const mounts = await mountsUnderRoot();
    expect(mounts).toEqual([join(rootDir, 'pods', uid, 'volumes', 'kubernetes.io~secret', 'sec')]);
  });

  it('a ConfigMap update is visible in the container after a later sync', async () => {
    objects.configMaps.set(`${namespace}/app`, {
      metadata: { name: 'app', namespace },
      data: { mode: 'slow', 'app.conf': 'port=9090\n' },
    });
    await sync();
    expect(await exec(['cat', '/etc/app/app.conf'])).toBe('port=9090\n');
    expect(await exec(['cat', '/etc/app/mode'])).toBe('slow');
  });

  it('cleanup removes the pod and leaves no tmpfs mount', async () => {
    await harness.terminate(manager, pod);
    expect(await mountsUnderRoot()).toEqual([]);
    const procMounts = await readFile('/proc/mounts', 'utf8');
    expect(procMounts).not.toContain(rootDir);
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
    expect(items).toEqual([]);
    expect(objects.registered.has(uid)).toBe(false);
  });
});
