/**
 * The kuberuntime builders' CRI output on the real containerd: a busybox pod with env
 * (values, $(VAR), downward API), emptyDir and hostPath volumes, resources and a
 * security context runs, and what the container sees matches the pod spec.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { cri as api, k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podCgroupName } from './cgroups.js';
import { makeContainerConfig } from './container-config.js';
import {
  getContainerInfoFromAnnotations,
  getContainerInfoFromLabels,
  getPodSandboxInfoFromLabels,
} from './labels.js';
import { hashContainer } from './hash.js';
import { makePodSandboxConfig, podLogsDirectory } from './sandbox-config.js';
import {
  prepareHostPath,
  prepareTerminationMessageFile,
  terminationMessageFilePath,
  volumeHostPath,
} from './volumes.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-kuberuntime' };
let cri: CriClient;
let workDir: string;

const uid = randomUUID();
const testPod: k8s.Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'kuberuntime-it',
    namespace: 'kuberuntime-test',
    uid,
    labels: { ...suiteLabel, app: 'builders' },
    annotations: { 'kubernetes.io/config.source': 'file' },
  },
  spec: {
    hostNetwork: true,
    terminationGracePeriodSeconds: 3,
    volumes: [
      { name: 'scratch', emptyDir: {} },
      { name: 'host', hostPath: { path: '', type: 'DirectoryOrCreate' } },
    ],
    containers: [
      {
        name: 'app',
        image: env.busyboxImage,
        command: ['/bin/sh', '-c', 'echo started $(GREETING); exec sleep 3600'],
        workingDir: '/scratch',
        env: [
          { name: 'GREETING', value: 'hello' },
          { name: 'MESSAGE', value: '$(GREETING) world $$(GREETING)' },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
          { name: 'APP_LABEL', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          {
            name: 'MEM_LIMIT_MI',
            valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } },
          },
          {
            name: 'CPU_REQUEST_M',
            valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } },
          },
        ],
        resources: {
          requests: { cpu: '100m', memory: '32Mi' },
          limits: { cpu: '500m', memory: '64Mi' },
        },
        volumeMounts: [
          { name: 'scratch', mountPath: '/scratch' },
          { name: 'host', mountPath: '/host', readOnly: true, subPath: 'sub' },
        ],
        securityContext: {
          runAsUser: 1000,
          runAsGroup: 1000,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
        },
      },
    ],
  },
};
const container = testPod.spec.containers[0]!;

let sandboxId = '';
let containerId = '';
let sandboxConfig: api.PodSandboxConfigInput;
let containerConfig: api.ContainerConfigInput;

async function exec(cmd: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await cri.execSync({ containerId, cmd, timeout: 10 });
  const decode = (b: Uint8Array | undefined): string =>
    Buffer.from(b ?? new Uint8Array()).toString('utf8');
  return { stdout: decode(r.stdout), stderr: decode(r.stderr), exitCode: r.exitCode };
}

/** The container's own cgroup directory for a controller (v1) or the unified tree (v2), on the host. */
function hostCgroupDir(controller: string, cgroupParent: string, id: string): string {
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  return v2
    ? join('/sys/fs/cgroup', cgroupParent, id)
    : join('/sys/fs/cgroup', controller, cgroupParent, id);
}

async function cleanup(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cleanup();
  await cri.pullImage({ image: { image: env.busyboxImage } });

  workDir = await mkdtemp(join(tmpdir(), 'kuberuntime-it-'));
  const hostVolume = testPod.spec.volumes![1]!;
  hostVolume.hostPath!.path = join(workDir, 'host');
  const podDir = join(workDir, 'pods', uid);

  // What the pod sync does before RunPodSandbox / CreateContainer.
  const resolvConf = await readFile('/etc/resolv.conf', 'utf8');
  const cgroupParent = podCgroupName(testPod, { cgroupRoot: env.cgroupRoot });
  sandboxConfig = makePodSandboxConfig(testPod, {
    attempt: 0,
    podLogsDir: env.podLogDir,
    cgroupParent,
    dns: { resolvConf },
  });
  await mkdir(podLogsDirectory(env.podLogDir, testPod), { recursive: true });
  const volumePaths: Record<string, string> = {};
  for (const v of testPod.spec.volumes ?? []) {
    const path = volumeHostPath(podDir, v)!;
    volumePaths[v.name] = path;
    if (v.emptyDir) {
      await mkdir(path, { recursive: true });
      await chmod(path, 0o777);
    } else {
      await prepareHostPath(v.hostPath?.type ?? '', path);
    }
  }
  await mkdir(join(volumePaths['host']!, 'sub'), { recursive: true });
  await writeFile(join(volumePaths['host']!, 'sub', 'hello.txt'), 'from the host\n');
  const terminationMessageHostPath = terminationMessageFilePath(
    podDir,
    container.name,
    randomUUID().slice(0, 8),
  );
  await prepareTerminationMessageFile(terminationMessageHostPath);

  ({ podSandboxId: sandboxId } = await cri.runPodSandbox({ config: sandboxConfig }));
  containerConfig = makeContainerConfig(testPod, container, {
    restartCount: 0,
    podIPs: [],
    hostIP: '127.0.0.1',
    nodeName: 'it-node',
    podDir,
    volumePaths,
    sandboxConfig,
    memoryCapacityBytes: totalmem(),
    terminationMessageHostPath,
  });
  ({ containerId } = await cri.createContainer({
    podSandboxId: sandboxId,
    config: containerConfig,
    sandboxConfig,
  }));
  await cri.startContainer({ containerId });
});

afterAll(async () => {
  if (cri) {
    await cleanup();
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
    expect(items).toEqual([]);
    cri.close();
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
  // The runtime removes the container cgroups; the (now empty) pod cgroup runc created is ours to remove.
  const cgroupParent = sandboxConfig?.linux?.cgroupParent;
  if (cgroupParent) {
    const roots = existsSync('/sys/fs/cgroup/cgroup.controllers')
      ? ['/sys/fs/cgroup']
      : (await readdir('/sys/fs/cgroup')).map((c) => join('/sys/fs/cgroup', c));
    for (const root of roots) await rmdir(join(root, cgroupParent)).catch(() => undefined);
  }
  await rm(join(env.podLogDir, `kuberuntime-test_kuberuntime-it_${uid}`), {
    recursive: true,
    force: true,
  });
});

describe('kuberuntime builders on the real containerd', () => {
  it('the container runs with the environment the pod asks for', async () => {
    const { stdout, exitCode } = await exec(['/bin/sh', '-c', 'env']);
    expect(exitCode).toBe(0);
    const vars = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(vars).toMatchObject({
      GREETING: 'hello',
      MESSAGE: 'hello world $(GREETING)',
      POD_NAME: 'kuberuntime-it',
      POD_NAMESPACE: 'kuberuntime-test',
      POD_UID: uid,
      APP_LABEL: 'builders',
      NODE_NAME: 'it-node',
      HOST_IP: '127.0.0.1',
      POD_IP: '127.0.0.1', // host network: the node's IP
      MEM_LIMIT_MI: '64',
      CPU_REQUEST_M: '100',
    });
    const status = await cri.containerStatus({ containerId, verbose: false });
    expect(status.status?.state).toBe('CONTAINER_RUNNING');
  });

  it('runs as the requested user with the requested working dir and capabilities', async () => {
    const { stdout } = await exec(['/bin/sh', '-c', 'cat /proc/self/status; echo PWD=$(pwd)']);
    expect(stdout).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(stdout).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    // Only NET_BIND_SERVICE (bit 10) is left in the bounding set.
    expect(stdout).toMatch(/^CapBnd:\s+0000000000000400$/m);
    expect(stdout).toContain('PWD=/scratch');
  });

  it('mounts the emptyDir (writable), the hostPath subPath (read-only) and the termination log; rootfs read-only', async () => {
    const r = await exec([
      '/bin/sh',
      '-c',
      'echo data > /scratch/f && cat /scratch/f && cat /host/hello.txt && ' +
        '(echo x > /host/new 2>/dev/null && echo host-writable || echo host-ro) && ' +
        '(touch /rootfs-file 2>/dev/null && echo root-writable || echo root-ro) && ' +
        'test -f /dev/termination-log && echo tlog',
    ]);
    expect(r.stdout.split('\n')).toEqual([
      'data',
      'from the host',
      'host-ro',
      'root-ro',
      'tlog',
      '',
    ]);
    const mounts = (await exec(['/bin/sh', '-c', 'cat /proc/self/mounts'])).stdout;
    expect(mounts).toMatch(/ \/host \S+ ro[,\s]/);
  });

  it('uses the node DNS for a host-network pod', async () => {
    const { stdout } = await exec(['/bin/sh', '-c', 'cat /etc/resolv.conf']);
    const nameserver = (await readFile('/etc/resolv.conf', 'utf8')).match(
      /^nameserver\s+(\S+)/m,
    )?.[1];
    expect(nameserver).toBeDefined();
    expect(stdout).toContain(`nameserver ${nameserver}`);
  });

  it('puts the container under the pod cgroup with its memory limit, CPU quota and OOM score', async () => {
    const cgroupParent = sandboxConfig.linux!.cgroupParent!;
    expect(cgroupParent).toBe(`${env.cgroupRoot}/kubepods/burstable/pod${uid}`);
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const memDir = hostCgroupDir('memory', cgroupParent, containerId);
    const memory = await readFile(
      join(memDir, v2 ? 'memory.max' : 'memory.limit_in_bytes'),
      'utf8',
    );
    expect(memory.trim()).toBe(String(64 * 1024 * 1024));
    const cpuDir = hostCgroupDir('cpu', cgroupParent, containerId);
    if (v2) {
      expect((await readFile(join(cpuDir, 'cpu.max'), 'utf8')).trim()).toBe('50000 100000');
    } else {
      expect((await readFile(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('50000');
      expect((await readFile(join(cpuDir, 'cpu.shares'), 'utf8')).trim()).toBe('102');
    }
    // The container sees its own limit too.
    const inside = await exec([
      '/bin/sh',
      '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
    ]);
    expect(inside.stdout.trim()).toBe(String(64 * 1024 * 1024));
    const oom = await exec(['/bin/sh', '-c', 'cat /proc/1/oom_score_adj']);
    expect(Number(oom.stdout.trim())).toBe(containerConfig.linux?.resources?.oomScoreAdj);
  });

  it('labels and annotations read back through the CRI for adoption', async () => {
    const { containers } = await cri.listContainers({
      filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } },
    });
    expect(containers).toHaveLength(1);
    const c = containers[0]!;
    expect(getContainerInfoFromLabels(c.labels)).toEqual({
      containerName: 'app',
      podName: 'kuberuntime-it',
      podNamespace: 'kuberuntime-test',
      podUid: uid,
    });
    expect(getContainerInfoFromAnnotations(c.annotations)).toMatchObject({
      hash: hashContainer(container),
      restartCount: 0,
      podTerminationGracePeriod: 3,
      terminationMessagePath: '/dev/termination-log',
      errors: [],
    });
    const sandbox = await cri.podSandboxStatus({ podSandboxId: sandboxId, verbose: false });
    expect(getPodSandboxInfoFromLabels(sandbox.status!.labels)).toMatchObject({
      podName: 'kuberuntime-it',
      podNamespace: 'kuberuntime-test',
      podUid: uid,
      labels: { ...suiteLabel, app: 'builders' },
    });
    expect(sandbox.status?.linux?.namespaces?.options?.network).toBe('NODE');
  });
});
