/**
 * RuntimeManager: the node allocatable behind downward-API limits (env and volumes) and
 * the pod fsGroup on emptyDir volumes. The in-memory runtime, a fake tmpfs mounter and
 * a real temp directory; syncs are awaited directly; time is a FakeClock.
 */
import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { cri, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager } from '../runtime-manager.js';
import type { TmpfsMounter } from './volume-mounter.js';

const noMounts: TmpfsMounter = {
  mountTmpfs: async () => {},
  unmount: async () => {},
  mountPointsUnder: async () => [],
};

const isRoot = process.getuid?.() === 0;
const group = isRoot ? 2345 : (process.getgid?.() ?? 0);

describe('RuntimeManager: node allocatable for downward-API limits, fsGroup on emptyDir', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let created: cri.ContainerConfigInput[];
  let allocatable: k8s.ResourceList | undefined;
  let manager: RuntimeManager;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-podspec-'));
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    created = [];
    const createContainer = runtime.createContainer.bind(runtime);
    runtime.createContainer = async (req, opts) => {
      if (req?.config) created.push(req.config);
      return createContainer(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
    allocatable = { cpu: '1500m', memory: '3Gi' };
    manager = new RuntimeManager({
      runtime,
      images: runtime,
      cache: pleg.cache,
      clock,
      nodeName: 'node-1',
      rootDir: join(dir, 'root'),
      podLogsDir: join(dir, 'logs'),
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      volumeMounter: noMounts,
      nodeAllocatable: () => allocatable,
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
  const env = (config: cri.ContainerConfigInput | undefined): Record<string, string> =>
    Object.fromEntries(
      (config?.envs ?? []).map((e) => [
        e.key ?? '',
        typeof e.value === 'string' ? e.value : new TextDecoder().decode(e.value ?? undefined),
      ]),
    );

  function thePod(
    uid: string,
    spec: Partial<k8s.PodSpec>,
    c: Partial<k8s.Container> = {},
  ): k8s.Pod {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: uid, namespace: 'team', uid },
      spec: {
        hostNetwork: true,
        containers: [{ name: 'main', image: 'busybox:1', command: ['sleep', '3600'], ...c }],
        ...spec,
      },
    };
  }

  it('limits.* of a container without limits read the node allocatable, in env and volumes (downwardapi.go)', async () => {
    const pod = thePod(
      'p1',
      {
        volumes: [
          {
            name: 'd',
            downwardAPI: {
              items: [
                {
                  path: 'mem',
                  resourceFieldRef: {
                    containerName: 'main',
                    resource: 'limits.memory',
                    divisor: '1Mi',
                  },
                },
              ],
            },
          },
        ],
      },
      {
        env: [
          { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          {
            name: 'CPU_LIMIT_M',
            valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } },
          },
        ],
      },
    );
    await sync(pod);
    expect(env(created[0])).toMatchObject({ CPU_LIMIT: '2', CPU_LIMIT_M: '1500' });
    const file = join(
      dir,
      'root',
      'pods',
      'p1',
      'volumes',
      'kubernetes.io~downward-api',
      'd',
      'mem',
    );
    expect(await readFile(file, 'utf8')).toBe('3072');
  });

  it('without a known allocatable such a limit fails the container (CreateContainerConfigError)', async () => {
    allocatable = undefined;
    const pod = thePod(
      'p2',
      {},
      {
        env: [{ name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }],
      },
    );
    await sync(pod);
    expect(created).toHaveLength(0);
    const waiting = manager.podStatus('p2')?.containerStatuses?.[0]?.state?.waiting;
    expect(waiting?.reason).toBe('CreateContainerConfigError');
    expect(waiting?.message).toMatch(/node allocatable CPU is unknown/);
  });

  it('an emptyDir of a pod with fsGroup belongs to the group, setgid and group-writable (empty_dir.go, fsGroup)', async () => {
    const pod = thePod('p3', {
      securityContext: { fsGroup: group },
      volumes: [{ name: 'scratch', emptyDir: {} }],
    });
    await sync(pod);
    const st = await lstat(
      join(dir, 'root', 'pods', 'p3', 'volumes', 'kubernetes.io~empty-dir', 'scratch'),
    );
    expect(st.gid).toBe(group);
    expect(st.mode & 0o7777).toBe(0o2777);
  });
});
