/**
 * RuntimeManager with a RuntimeClass lookup (kubelet `runtimeClassManager`): the
 * handler of the pod's RuntimeClass reaches RunPodSandbox; a RuntimeClass that does not
 * exist fails the sandbox with a FailedCreatePodSandBox event naming it and no sandbox
 * is created (kubelet e2e "RuntimeClass should reject a Pod requesting a non-existent
 * RuntimeClass" when admission let it through); pods without `runtimeClassName` use the
 * default handler without a lookup. In-memory runtime, FakeClock, syncs awaited directly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { cri, EventRecorder, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager } from '../runtime-manager.js';

describe('RuntimeManager: RuntimeClass handlers', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let requests: cri.RunPodSandboxRequestInput[];
  let events: { reason: string; type: string; message: string }[];
  let lookups: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-runtimeclass-'));
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    requests = [];
    events = [];
    lookups = [];
    const runPodSandbox = runtime.runPodSandbox.bind(runtime);
    runtime.runPodSandbox = async (req, opts) => {
      if (req) requests.push(req);
      return runPodSandbox(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
  });
  afterEach(async () => {
    await pleg.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const recorder: EventRecorder = {
    event: (_ref, type, reason, message) => events.push({ type, reason, message }),
  };
  const handlers: Record<string, string> = { kata: 'kata-qemu' };

  function manager(): RuntimeManager {
    return new RuntimeManager({
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
      runtimeHandlerFor: (name) => {
        lookups.push(name);
        const handler = handlers[name];
        return handler === undefined
          ? Promise.reject(new Error(`runtimeclass.node.k8s.io "${name}" not found`))
          : Promise.resolve(handler);
      },
    });
  }

  const pod = (uid: string, runtimeClassName?: string): k8s.Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${uid}`, namespace: 'team', uid },
    spec: {
      hostNetwork: true,
      ...(runtimeClassName !== undefined ? { runtimeClassName } : {}),
      containers: [{ name: 'main', image: 'busybox:1', command: ['sleep', '3600'] }],
    },
  });

  const signal = new AbortController().signal;
  async function sync(m: RuntimeManager, p: k8s.Pod): Promise<unknown> {
    await pleg.relist();
    return m.syncPod(p, 'sync', { signal, statusNewerThanMs: 0 }).then(
      () => undefined,
      (err: unknown) => err,
    );
  }

  it('passes the handler of the pod RuntimeClass to RunPodSandbox', async () => {
    expect(await sync(manager(), pod('rc-1', 'kata'))).toBeUndefined();
    expect(lookups).toEqual(['kata']);
    expect(requests.map((r) => r.runtimeHandler)).toEqual(['kata-qemu']);
  });

  it('a pod without runtimeClassName: default handler, no lookup', async () => {
    expect(await sync(manager(), pod('rc-2'))).toBeUndefined();
    expect(lookups).toEqual([]);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.runtimeHandler ?? '').toBe('');
  });

  it('a RuntimeClass that does not exist: no sandbox, FailedCreatePodSandBox naming it, ContainerCreating', async () => {
    const m = manager();
    const statuses: k8s.PodStatus[] = [];
    m.onStatus((_p, s) => statuses.push(s));
    const err = await sync(m, pod('rc-3', 'missing'));
    expect(err).toBeInstanceOf(Error);
    expect(requests).toEqual([]);
    expect(events).toContainEqual({
      type: 'Warning',
      reason: 'FailedCreatePodSandBox',
      message: 'Failed to create pod sandbox: runtimeclass.node.k8s.io "missing" not found',
    });
    const last = statuses.at(-1);
    expect(last?.phase).toBe('Pending');
    expect(last?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
  });
});
