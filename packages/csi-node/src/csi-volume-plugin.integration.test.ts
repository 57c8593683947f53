/**
 * CSI volumes on the real containerd with real bind mounts: pod-lifecycle's
 * RuntimeManager with the CSI volume plugin, the testkit CSI driver over its unix
 * socket through the CSI client. A pod writes to its inline and claim volumes and the
 * files land in the driver's backing directories; two pods share one staged volume;
 * an agent restart reconstructs from vol_data.json; driver errors and a hanging
 * driver give FailedMount and the pod starts once the driver recovers; pod deletion
 * leaves nothing in /proc/mounts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock, type EventRecorder, type k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { RuntimeManager } from '@nodeagent/pod-lifecycle';
import { startTestCsiDriver, type TestCsiDriver } from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsiClient, type CsiClient } from './csi-client.js';
import { CsiVolumePlugin } from './csi-volume-plugin.js';
import { StaticPersistentVolumeLookup } from './pv-lookup.js';
import type { CsiDriverRegistry } from './types.js';
import { makeEphemeralVolumeHandle, publishTargetPath, stagingTargetPath } from './vol-data.js';

const env = realRuntime();
const suite = `csi-node-volumes-${randomUUID().slice(0, 8)}`;
const suiteLabel = { 'nodeagent.test/suite': suite };
const namespace = 'csi-it';
const DRIVER = 'it.csi.nodeagent.test';

let cri: CriClient;
let pleg: Pleg;
let driver: TestCsiDriver;
let client: CsiClient;
let rootDir: string;
let driverDir: string;
const clock = new RealClock();
const events: Array<{ reason: string; message: string; pod: string }> = [];
const signal = new AbortController().signal;
const registry: CsiDriverRegistry = {
  get: (name) => (name === DRIVER ? client : undefined),
  list: () => [DRIVER],
  onChange: () => () => undefined,
};
const lookup = new StaticPersistentVolumeLookup({
  claims: [
    {
      metadata: { name: 'shared', namespace, uid: 'claim-uid' },
      spec: { volumeName: 'pv-shared' },
      status: { phase: 'Bound' },
    },
  ],
  volumes: [
    {
      metadata: { name: 'pv-shared' },
      spec: {
        accessModes: ['ReadWriteMany'],
        claimRef: { namespace, name: 'shared', uid: 'claim-uid' },
        csi: { driver: DRIVER, volumeHandle: 'shared-vol' },
      },
    },
  ],
});

/** One agent "process": plugin + runtime manager (a restart makes new ones). */
function newAgent(): { plugin: CsiVolumePlugin; manager: RuntimeManager } {
  const plugin = new CsiVolumePlugin({
    rootDir,
    nodeName: 'it-node',
    drivers: registry,
    clock,
    operationTimeoutMs: 1_500,
    persistentVolumes: lookup,
  });
  const recorder: EventRecorder = {
    event: (ref, _type, reason, message) => events.push({ reason, message, pod: ref.name ?? '' }),
  };
  const manager = new RuntimeManager({
    runtime: cri,
    images: cri,
    cache: pleg.cache,
    clock,
    recorder,
    nodeName: 'it-node',
    hostIp: '127.0.0.1',
    rootDir,
    podLogsDir: join(rootDir, 'logs'),
    runtimeName: 'containerd',
    memoryCapacityBytes: 8 * 1024 ** 3,
    volumePlugins: [plugin],
  });
  return { plugin, manager };
}

function thePod(name: string, volumes: k8s.Volume[], mounts: k8s.VolumeMount[]): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: randomUUID(), labels: { ...suiteLabel } },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 2,
      volumes,
      containers: [
        { name: 'app', image: env.busyboxImage, command: ['sleep', '3600'], volumeMounts: mounts },
      ],
    },
  };
}

const shared: k8s.Volume = { name: 'data', persistentVolumeClaim: { claimName: 'shared' } };
const podA = thePod(
  'writer-a',
  [{ name: 'scratch', csi: { driver: DRIVER, volumeAttributes: { owner: 'a' } } }, shared],
  [
    { name: 'scratch', mountPath: '/scratch' },
    { name: 'data', mountPath: '/data' },
  ],
);
const podB = thePod('writer-b', [shared], [{ name: 'data', mountPath: '/data' }]);
const podC = thePod(
  'flaky',
  [{ name: 'v', csi: { driver: DRIVER } }],
  [{ name: 'v', mountPath: '/v' }],
);

async function sync(manager: RuntimeManager, pod: k8s.Pod) {
  await pleg.relist();
  return manager.syncPod(pod, 'sync', { signal, statusNewerThanMs: 0 });
}

async function runningContainerId(pod: k8s.Pod): Promise<string | undefined> {
  const { containers } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.metadata.uid ?? '' } },
  });
  return containers.find((c) => c.state === 'CONTAINER_RUNNING')?.id;
}

async function sh(pod: k8s.Pod, script: string): Promise<string> {
  const containerId = await runningContainerId(pod);
  if (!containerId) throw new Error(`no running container in ${pod.metadata.name ?? ''}`);
  const r = await cri.execSync({ containerId, cmd: ['sh', '-c', script], timeout: 10 });
  expect(r.exitCode).toBe(0);
  return Buffer.from(r.stdout).toString('utf8');
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));
}

async function deletePod(manager: RuntimeManager, pod: k8s.Pod): Promise<void> {
  await manager.syncTerminatingPod(pod, {}, { signal, statusNewerThanMs: 0 });
  await manager.syncTerminatedPod(pod, { reason: 'Deleted' }, { signal, statusNewerThanMs: 0 });
}

async function removeOurSandboxes(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

let agent: ReturnType<typeof newAgent>;

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  rootDir = await mkdtemp(join(tmpdir(), 'csi-it-root-'));
  driverDir = await mkdtemp('/tmp/csi-it-');
  driver = await startTestCsiDriver({ name: DRIVER, dir: driverDir });
  client = createCsiClient({ driverName: DRIVER, endpoint: driver.endpoint, timeoutMs: 10_000 });
  pleg = createPleg({ runtime: cri, clock, relistPeriodMs: 1_000 });
  agent = newAgent();
});

afterAll(async () => {
  if (cri) {
    await removeOurSandboxes();
    for (const pod of [podA, podB, podC])
      await agent?.plugin.tearDownPod(pod).catch(() => undefined);
    cri.close();
  }
  await pleg?.stop();
  await driver?.stop();
  client?.close();
  if (rootDir) {
    expect(await mountsUnder(rootDir)).toEqual([]);
    await rm(rootDir, { recursive: true, force: true });
  }
  if (driverDir) await rm(driverDir, { recursive: true, force: true });
});

describe('CSI volumes on containerd with the test CSI driver', () => {
  it('a pod writes to its inline and claim volumes; the files are in the driver backing dirs', async () => {
    await sync(agent.manager, podA);
    expect(events.filter((e) => e.reason === 'FailedMount')).toEqual([]);
    await sh(podA, 'echo hello > /scratch/f && echo from-a > /data/a');
    const inlineHandle = makeEphemeralVolumeHandle(podA.metadata.uid ?? '', 'scratch');
    expect(await readFile(join(driver.backingDir(inlineHandle), 'f'), 'utf8')).toBe('hello\n');
    expect(await readFile(join(driver.backingDir('shared-vol'), 'a'), 'utf8')).toBe('from-a\n');
    const mounts = await mountsUnder(rootDir);
    expect(mounts).toEqual(
      expect.arrayContaining([
        stagingTargetPath(rootDir, DRIVER, 'shared-vol'),
        publishTargetPath(rootDir, podA.metadata.uid ?? '', 'pv-shared'),
        publishTargetPath(rootDir, podA.metadata.uid ?? '', 'scratch'),
      ]),
    );
    // Both are staged (the driver has STAGE_UNSTAGE_VOLUME), each once.
    const stages = driver.calls.filter((c) => c.rpc === 'NodeStageVolume');
    expect(stages.map((c) => c.request.volumeId).sort()).toEqual(
      [inlineHandle, 'shared-vol'].sort(),
    );
  });

  it('a second pod shares the staged volume (staged once) and sees the first pod’s file', async () => {
    await sync(agent.manager, podB);
    expect(await sh(podB, 'cat /data/a && echo from-b > /data/b')).toBe('from-a\n');
    expect(await readFile(join(driver.backingDir('shared-vol'), 'b'), 'utf8')).toBe('from-b\n');
    const sharedStages = driver.calls.filter(
      (c) => c.rpc === 'NodeStageVolume' && c.request.volumeId === 'shared-vol',
    );
    expect(sharedStages).toHaveLength(1);
  });

  it('after an agent restart, reconstruction keeps what desired pods use and cleans up the rest', async () => {
    // The agent restarts; meanwhile pod A was deleted from the API.
    agent = newAgent();
    const result = await agent.plugin.reconstruct([podB]);
    expect(result.errors).toEqual([]);
    expect(result.unpublished.sort()).toEqual(
      [
        publishTargetPath(rootDir, podA.metadata.uid ?? '', 'pv-shared'),
        publishTargetPath(rootDir, podA.metadata.uid ?? '', 'scratch'),
      ].sort(),
    );
    // Pod B still uses the claim's staged volume; A's inline volume is unstaged.
    expect(result.unstaged).toEqual([
      stagingTargetPath(
        rootDir,
        DRIVER,
        makeEphemeralVolumeHandle(podA.metadata.uid ?? '', 'scratch'),
      ),
    ]);
    expect(await mountsUnder(rootDir)).toEqual(
      expect.arrayContaining([stagingTargetPath(rootDir, DRIVER, 'shared-vol')]),
    );
    // B keeps working without a new publish.
    const publishes = driver.calls.filter((c) => c.rpc === 'NodePublishVolume').length;
    await sync(agent.manager, podB);
    expect(driver.calls.filter((c) => c.rpc === 'NodePublishVolume')).toHaveLength(publishes);
    expect(await sh(podB, 'cat /data/b')).toBe('from-b\n');
    // Pod A's leftovers (containers) go as an orphan.
    await agent.manager.syncTerminatingPod(podA, {}, { signal, statusNewerThanMs: 0 });
    await agent.manager.removePodResources({
      metadata: { name: 'writer-a', namespace, uid: podA.metadata.uid ?? '' },
      spec: { containers: [] },
    });
  });

  it('pod deletion unpublishes and unstages: no mount left in /proc/mounts', async () => {
    await deletePod(agent.manager, podB);
    expect(await mountsUnder(rootDir)).toEqual([]);
    expect(driver.mounts()).toEqual([]);
    const unstages = driver.calls.filter((c) => c.rpc === 'NodeUnstageVolume');
    expect(unstages.map((c) => c.request.volumeId)).toContain('shared-vol');
    // The data stays in the driver's backing directory.
    expect(await readFile(join(driver.backingDir('shared-vol'), 'b'), 'utf8')).toBe('from-b\n');
  });

  it('a failing, then hanging driver: FailedMount with back-off; the pod starts once it recovers', async () => {
    driver.failNext('NodePublishVolume', 'INTERNAL');
    await sync(agent.manager, podC);
    const failed = () => events.filter((e) => e.reason === 'FailedMount' && e.pod === 'flaky');
    expect(failed()).toHaveLength(1);
    expect(failed()[0]?.message).toMatch(
      /^MountVolume.SetUp failed for volume "v" : NodePublishVolume failed: /,
    );
    expect(await runningContainerId(podC)).toBeUndefined();

    driver.delay('NodePublishVolume', Infinity);
    await new Promise((r) => setTimeout(r, 600)); // the mount back-off (0.5 s)
    await sync(agent.manager, podC); // bounded by operationTimeoutMs (1.5 s)
    expect(failed()).toHaveLength(2);
    expect(failed()[1]?.message).toMatch(/did not answer within 1500 ms/);
    expect(await runningContainerId(podC)).toBeUndefined();

    driver.clearFaults();
    await new Promise((r) => setTimeout(r, 1_100)); // back-off 1 s
    await sync(agent.manager, podC);
    expect(await runningContainerId(podC)).toBeDefined();
    await sh(podC, 'echo ok > /v/ok');
    const handle = makeEphemeralVolumeHandle(podC.metadata.uid ?? '', 'v');
    expect(await readFile(join(driver.backingDir(handle), 'ok'), 'utf8')).toBe('ok\n');

    await deletePod(agent.manager, podC);
    expect(await mountsUnder(rootDir)).toEqual([]);
    expect(driver.mounts()).toEqual([]);
  });
});
