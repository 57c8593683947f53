/**
 * Pod cgroups on this host's real cgroupfs with the real containerd: the QoS hierarchy
 * and a Burstable pod cgroup with a memory limit are created under the harness's
 * cgroupRoot, a host-network busybox pod runs with it as cgroupParent, its container
 * lands under the pod cgroup and is bound by the pod's memory limit; after the sandbox
 * is removed the pod cgroup (and the QoS cgroups this suite created) are removed.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RealClock, type cri as api, type k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPodContainerManager, type PodContainerManager } from './pod-container-manager.js';

const env = realRuntime();
const mountRoot = '/sys/fs/cgroup';
const isV2 = existsSync(join(mountRoot, 'cgroup.controllers'));
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-cm' };
const MiB = 2 ** 20;
const uid = randomUUID();
const testPod: k8s.Pod = {
  metadata: { name: 'cm-it', namespace: 'cm-test', uid, labels: suiteLabel },
  spec: {
    hostNetwork: true,
    containers: [
      {
        name: 'app',
        image: env.busyboxImage,
        resources: { requests: { cpu: '100m', memory: '16Mi' }, limits: { memory: '64Mi' } },
      },
    ],
  },
};

let cri: CriClient;
let cm: PodContainerManager;
let cgroupParent = '';
let sandboxId = '';
let containerId = '';
const qosDirsBefore = new Map<string, boolean>();

/** Every hierarchy directory under the mount root (v1: per controller, named and hybrid mounts; v2: the root). */
async function hierarchies(): Promise<string[]> {
  if (isV2) return [mountRoot];
  const entries = await readdir(mountRoot, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => join(mountRoot, e.name));
}

function controllerDir(controller: string, cgroup: string): string {
  return isV2 ? join(mountRoot, cgroup) : join(mountRoot, controller, cgroup);
}

async function removeOurSandboxes(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await removeOurSandboxes();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  cm = createPodContainerManager({ clock: new RealClock(), cgroupRoot: env.cgroupRoot });
  for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as const) {
    qosDirsBefore.set(qos, existsSync(controllerDir('memory', cm.qosCgroupName(qos))));
  }
});

afterAll(async () => {
  if (cri) {
    await removeOurSandboxes();
    cri.close();
  }
  if (cm) {
    await cm.destroyPodCgroup(uid);
    // Remove the QoS cgroups only if this suite created them and no other suite's pods use them.
    if (![...qosDirsBefore.values()].some(Boolean)) await cm.destroyQosCgroups();
  }
});

describe('pod cgroups on the real cgroupfs and containerd', () => {
  it('detects the host cgroup version from the mount layout', async () => {
    expect(await cm.cgroupVersion()).toBe(isV2 ? 'v2' : 'v1');
  });

  it('creates the QoS hierarchy; besteffort gets the minimum CPU weight', async () => {
    await cm.ensureQosCgroups();
    for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as const) {
      for (const controller of ['cpu', 'memory', 'pids', 'cpuset']) {
        expect(
          existsSync(controllerDir(controller, cm.qosCgroupName(qos))),
          `${controller} ${qos}`,
        ).toBe(true);
      }
    }
    const besteffortCpu = controllerDir('cpu', cm.qosCgroupName('BestEffort'));
    if (isV2) expect((await readFile(join(besteffortCpu, 'cpu.weight'), 'utf8')).trim()).toBe('1');
    else {
      expect((await readFile(join(besteffortCpu, 'cpu.shares'), 'utf8')).trim()).toBe('2');
      const cpus = (
        await readFile(
          join(controllerDir('cpuset', cm.qosCgroupName('Burstable')), 'cpuset.cpus'),
          'utf8',
        )
      ).trim();
      expect(cpus).not.toBe('');
    }
  });

  it('creates the Burstable pod cgroup with the pod memory limit and returns its cgroupParent', async () => {
    cgroupParent = await cm.ensurePodCgroup(testPod);
    expect(cgroupParent).toBe(`${env.cgroupRoot.replace(/\/$/, '')}/kubepods/burstable/pod${uid}`);
    expect(await cm.podCgroupExists(testPod)).toBe(true);
    expect(await cm.listPodCgroups()).toContain(uid);
    const memDir = controllerDir('memory', cgroupParent);
    const limit = (
      await readFile(join(memDir, isV2 ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8')
    ).trim();
    expect(Number(limit)).toBe(64 * MiB);
    const cpuDir = controllerDir('cpu', cgroupParent);
    if (isV2) expect((await readFile(join(cpuDir, 'cpu.weight'), 'utf8')).trim()).toBe('4');
    else {
      expect((await readFile(join(cpuDir, 'cpu.shares'), 'utf8')).trim()).toBe('102');
      // No CPU limit on the container: no quota on the pod.
      expect((await readFile(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('-1');
    }
  });

  it('a pod started with that cgroupParent runs under the pod cgroup, bound by its memory limit', async () => {
    const sandboxConfig: api.PodSandboxConfigInput = {
      metadata: { name: 'cm-it', namespace: 'cm-test', uid, attempt: 0 },
      labels: { ...suiteLabel, 'io.kubernetes.pod.uid': uid },
      linux: {
        cgroupParent,
        securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    ({ podSandboxId: sandboxId } = await cri.runPodSandbox({ config: sandboxConfig }));
    ({ containerId } = await cri.createContainer({
      podSandboxId: sandboxId,
      sandboxConfig,
      config: {
        metadata: { name: 'app', attempt: 0 },
        image: { image: env.busyboxImage },
        command: ['sleep', '3600'],
        labels: suiteLabel,
      },
    }));
    await cri.startContainer({ containerId });

    // The container's init process, seen from the host.
    const status = await cri.containerStatus({ containerId, verbose: true });
    const info = JSON.parse(status.info['info'] ?? '{}') as { pid?: number };
    expect(info.pid).toBeGreaterThan(0);
    const procCgroups = await readFile(`/proc/${info.pid}/cgroup`, 'utf8');
    const memoryLine = procCgroups
      .split('\n')
      .find((l) => (isV2 ? l.startsWith('0::') : /^\d+:memory:/.test(l)));
    expect(memoryLine?.split(':')[2]).toBe(`${cgroupParent}/${containerId}`);

    // The container's own cgroup has no limit; the pod's applies to it through the hierarchy.
    const containerMemDir = controllerDir('memory', `${cgroupParent}/${containerId}`);
    if (!isV2) {
      const stat = await readFile(join(containerMemDir, 'memory.stat'), 'utf8');
      expect(stat).toMatch(new RegExp(`^hierarchical_memory_limit ${64 * MiB}$`, 'm'));
    }
    // Enforced: a process in the pod that wants ~96 MiB is OOM-killed (137); a small one is fine.
    const big = await cri.execSync({
      containerId,
      cmd: ['sh', '-c', 'x=$(head -c 100663296 /dev/zero | tr "\\0" a); echo ${#x}'],
      timeout: 30,
    });
    expect(big.exitCode).not.toBe(0);
    const small = await cri.execSync({
      containerId,
      cmd: ['sh', '-c', 'x=$(head -c 1048576 /dev/zero | tr "\\0" a); echo ${#x}'],
      timeout: 30,
    });
    expect(small.exitCode).toBe(0);
    expect(
      Buffer.from(small.stdout ?? new Uint8Array())
        .toString()
        .trim(),
    ).toBe('1048576');
    const failcnt = isV2
      ? (
          await readFile(join(controllerDir('memory', cgroupParent), 'memory.events'), 'utf8')
        ).match(/^max (\d+)$/m)?.[1]
      : (
          await readFile(join(controllerDir('memory', cgroupParent), 'memory.failcnt'), 'utf8')
        ).trim();
    expect(Number(failcnt)).toBeGreaterThan(0);
    expect((await cri.containerStatus({ containerId, verbose: false })).status?.state).toBe(
      'CONTAINER_RUNNING',
    );
  });

  it('after the sandbox is removed, destroyPodCgroup removes the pod cgroup everywhere (idempotently)', async () => {
    await cri.stopPodSandbox({ podSandboxId: sandboxId });
    await cri.removePodSandbox({ podSandboxId: sandboxId });
    await cm.destroyPodCgroup(testPod);
    for (const dir of await hierarchies()) {
      expect(existsSync(join(dir, cgroupParent)), dir).toBe(false);
    }
    expect(await cm.listPodCgroups()).not.toContain(uid);
    await cm.destroyPodCgroup(uid);
    // The QoS cgroups stay for the next pod.
    expect(existsSync(controllerDir('memory', cm.qosCgroupName('Burstable')))).toBe(true);
  });
});
