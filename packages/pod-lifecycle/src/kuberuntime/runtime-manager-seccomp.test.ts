/**
 * RuntimeManager with kubelet `seccompDefault`: the option reaches the CRI
 * CreateContainer request (RuntimeDefault for containers without a profile, explicit
 * profiles kept), the sandbox always asks for RuntimeDefault, and without the option
 * containers stay Unconfined. In-memory runtime, FakeClock, syncs awaited directly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { cri, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager, type RuntimeManagerOptions } from '../runtime-manager.js';

describe('RuntimeManager: seccompDefault', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let created: Map<string, cri.ContainerConfigInput>;
  let sandboxes: cri.PodSandboxConfigInput[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-seccomp-'));
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    created = new Map();
    sandboxes = [];
    const createContainer = runtime.createContainer.bind(runtime);
    runtime.createContainer = async (req, opts) => {
      if (req?.config) created.set(req.config.metadata?.name ?? '', req.config);
      return createContainer(req, opts);
    };
    const runPodSandbox = runtime.runPodSandbox.bind(runtime);
    runtime.runPodSandbox = async (req, opts) => {
      if (req?.config) sandboxes.push(req.config);
      return runPodSandbox(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
  });
  afterEach(async () => {
    await pleg.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function manager(extra: Partial<RuntimeManagerOptions>): RuntimeManager {
    return new RuntimeManager({
      runtime,
      images: runtime,
      cache: pleg.cache,
      clock,
      nodeName: 'node-1',
      rootDir: join(dir, 'root'),
      podLogsDir: join(dir, 'logs'),
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      ...extra,
    });
  }

  const thePod: k8s.Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team', uid: 'seccomp-1' },
    spec: {
      hostNetwork: true,
      containers: [
        { name: 'plain', image: 'busybox:1', command: ['sleep', '3600'] },
        {
          name: 'unconfined',
          image: 'busybox:1',
          command: ['sleep', '3600'],
          securityContext: { seccompProfile: { type: 'Unconfined' } },
        },
        {
          name: 'localhost',
          image: 'busybox:1',
          command: ['sleep', '3600'],
          securityContext: {
            seccompProfile: { type: 'Localhost', localhostProfile: 'audit.json' },
          },
        },
      ],
    },
  };

  const signal = new AbortController().signal;
  async function sync(m: RuntimeManager, pod: k8s.Pod): Promise<void> {
    await pleg.relist();
    await m.syncPod(pod, 'sync', { signal, statusNewerThanMs: 0 });
  }
  const seccompOf = (name: string) => created.get(name)?.linux?.securityContext?.seccomp;

  it('on: RuntimeDefault for containers without a profile; explicit profiles win', async () => {
    await sync(
      manager({ seccompDefault: true, seccompProfileRoot: join(dir, 'root', 'seccomp') }),
      thePod,
    );
    expect([...created.keys()].sort()).toEqual(['localhost', 'plain', 'unconfined']);
    expect(seccompOf('plain')).toEqual({ profileType: 'RuntimeDefault' });
    expect(seccompOf('unconfined')).toEqual({ profileType: 'Unconfined' });
    expect(seccompOf('localhost')).toEqual({
      profileType: 'Localhost',
      localhostRef: join(dir, 'root', 'seccomp', 'audit.json'),
    });
    expect(sandboxes.map((s) => s.linux?.securityContext?.seccomp)).toEqual([
      { profileType: 'RuntimeDefault' },
    ]);
  });

  it('on: a pod-level profile applies to containers without their own', async () => {
    const pod: k8s.Pod = {
      ...thePod,
      spec: {
        ...thePod.spec,
        securityContext: { seccompProfile: { type: 'Unconfined' } },
        containers: [thePod.spec.containers[0]!],
      },
    };
    await sync(manager({ seccompDefault: true }), pod);
    expect(seccompOf('plain')).toEqual({ profileType: 'Unconfined' });
  });

  it('off (the kubelet default): containers without a profile are Unconfined', async () => {
    await sync(manager({}), thePod);
    expect(seccompOf('plain')).toEqual({ profileType: 'Unconfined' });
    expect(seccompOf('localhost')).toEqual({
      profileType: 'Localhost',
      localhostRef: '/var/lib/kubelet/seccomp/audit.json',
    });
    // The sandbox runs RuntimeDefault either way (kubelet issue #84623).
    expect(sandboxes.map((s) => s.linux?.securityContext?.seccomp)).toEqual([
      { profileType: 'RuntimeDefault' },
    ]);
  });
});
