/**
 * node-stats against the real containerd: a host-network pod whose container burns
 * CPU and fills a tmpfs file shows up with plausible CPU and memory; writing into
 * its emptyDir grows its ephemeral storage; the image fs has a capacity.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { RealClock, type PodStats, type cri as api } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatsProvider, type NodeStatsProvider } from './stats-provider.js';

const env = realRuntime();
const suite = `node-stats-${randomUUID().slice(0, 8)}`;
const testLabel = { 'nodeagent.test/suite': suite };
const namespace = 'node-stats-test';
const rootDir = `${env.runtimeDir}/${suite}-root`;
const MiB = 1024 * 1024;
let cri: CriClient;
let provider: NodeStatsProvider;
let uid: string;
let containerId: string;

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function podStats(update = true): Promise<PodStats> {
  const s = await provider.summary({ updateStats: update });
  const ps = s.pods.find((p) => p.podRef.uid === uid);
  if (!ps) throw new Error(`pod ${uid} not in the summary`);
  return ps;
}

async function cleanup(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  provider = createStatsProvider({
    runtime: cri,
    images: cri,
    rootDir,
    podLogsDir: env.podLogDir,
    clock: new RealClock(),
    volumeStatsAggPeriodMs: 0,
    podSandboxStats: true, // containerd 1.6 implements ListPodSandboxStats
  });

  uid = randomUUID();
  const name = 'burner';
  const emptyDir = `${rootDir}/pods/${uid}/volumes/kubernetes.io~empty-dir/scratch`;
  mkdirSync(emptyDir, { recursive: true });
  const config: api.PodSandboxConfigInput = {
    metadata: { name, namespace, uid, attempt: 0 },
    logDirectory: `${env.podLogDir}/${namespace}_${name}_${uid}`,
    labels: { ...testLabel, 'io.kubernetes.pod.uid': uid },
    linux: {
      cgroupParent: `${env.cgroupRoot}/pod${uid}`,
      securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  const { podSandboxId } = await cri.runPodSandbox({ config });
  ({ containerId } = await cri.createContainer({
    podSandboxId,
    sandboxConfig: config,
    config: {
      metadata: { name: 'app', attempt: 0 },
      image: { image: env.busyboxImage },
      command: [
        'sh',
        '-c',
        // 40 MiB into tmpfs (charged to the container's memory), then burn one core
        'echo started; dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; ' +
          'echo filled; while :; do :; done',
      ],
      mounts: [{ containerPath: '/scratch', hostPath: emptyDir }],
      logPath: 'app/0.log',
      labels: { ...testLabel, 'io.kubernetes.pod.uid': uid },
    },
  }));
  await cri.startContainer({ containerId });
});

afterAll(async () => {
  await provider.stop();
  await cleanup();
  cri.close();
  rmSync(rootDir, { recursive: true, force: true });
  rmSync(`${env.podLogDir}/${namespace}_burner_${uid}`, { recursive: true, force: true });
});

describe('node-stats on containerd', () => {
  it('shows the busy container with plausible CPU and memory', async () => {
    await podStats(true); // first CPU sample
    await sleep(1500);
    const ps = await podStats(true);
    const app = ps.containers.find((c) => c.name === 'app');
    expect(app).toBeDefined();
    expect(ps.podRef).toEqual({ name: 'burner', namespace, uid });
    // a busy loop: well above a tenth of a core, at most the machine's cores
    expect(app?.cpu?.usageNanoCores).toBeGreaterThan(1e8);
    expect(app?.cpu?.usageCoreNanoSeconds).toBeGreaterThan(1e8);
    expect(app?.memory?.workingSetBytes).toBeGreaterThan(30 * MiB);
    expect(ps.cpu?.usageNanoCores).toBeGreaterThan(1e8);
    expect(ps.memory?.workingSetBytes).toBeGreaterThanOrEqual(app?.memory?.workingSetBytes ?? 0);
    expect(app?.rootfs?.capacityBytes).toBeGreaterThan(0);
    expect(app?.logs?.usedBytes).toBeGreaterThan(0);
  });

  it('grows the pod ephemeral storage when the container writes into its emptyDir', async () => {
    const before = (await podStats(false))['ephemeral-storage']?.usedBytes ?? 0;
    const res = await cri.execSync({
      containerId,
      cmd: ['sh', '-c', 'dd if=/dev/urandom of=/scratch/blob bs=1M count=8 2>/dev/null && sync'],
      timeout: 30,
    });
    expect(res.exitCode).toBe(0);
    const ps = await podStats(false);
    const after = ps['ephemeral-storage']?.usedBytes ?? 0;
    expect(after - before).toBeGreaterThanOrEqual(8 * MiB);
    expect(ps.volume?.find((v) => v.name === 'scratch')?.usedBytes).toBeGreaterThanOrEqual(8 * MiB);
  });

  it('sums the containers when pod stats come from ListContainerStats only', async () => {
    const summed = createStatsProvider({
      runtime: cri,
      images: cri,
      rootDir,
      podLogsDir: env.podLogDir,
      clock: new RealClock(),
      podSandboxStats: false,
    });
    await summed.listPodStats({ updateStats: true });
    await sleep(1000);
    const ps = (await summed.listPodStats({ updateStats: true })).find((p) => p.podRef.uid === uid);
    const app = ps?.containers.find((c) => c.name === 'app');
    expect(ps?.cpu?.usageNanoCores).toBe(app?.cpu?.usageNanoCores);
    expect(ps?.cpu?.usageNanoCores).toBeGreaterThan(1e8);
    expect(ps?.memory?.workingSetBytes).toBe(app?.memory?.workingSetBytes);
    // summed from the containers' cgroups (pids.current / cgroup.procs)
    expect(ps?.process_stats?.process_count).toBeGreaterThanOrEqual(1);
  });

  it('reports the node and the image fs', { timeout: 40_000 }, async () => {
    const { node } = await provider.summary({ updateStats: true });
    expect(node.cpu?.usageCoreNanoSeconds).toBeGreaterThan(0);
    expect(node.memory?.workingSetBytes).toBeGreaterThan(0);
    expect(node.memory?.availableBytes).toBeGreaterThan(0);
    expect(node.fs?.capacityBytes).toBeGreaterThan(0);
    expect(node.runtime?.imageFs?.capacityBytes).toBeGreaterThan(0);
    // containerd refreshes snapshot usage periodically (about every 10 s): wait for it
    let imageFs = node.runtime?.imageFs;
    for (let i = 0; i < 40 && !(imageFs?.usedBytes ?? 0); i++) {
      await sleep(500);
      imageFs = await provider.imageFsStats();
    }
    expect(imageFs?.usedBytes).toBeGreaterThan(0);
    expect(imageFs?.inodesUsed).toBeGreaterThan(0);
    expect(node.rlimit?.maxpid).toBeGreaterThan(0);
    expect(node.rlimit?.curproc).toBeGreaterThan(0);
  });
});
