/**
 * Ephemeral containers (`kubectl debug`) end to end in memory: pod source → workers →
 * runtime manager over testkit's fake runtime and the real PLEG, on the fake clock.
 */
import { join } from 'node:path';
import type { PodSource, PodUpdate, RuntimePodStatus, cri, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EphemeralTargetNotFoundError,
  containerEventFieldPath,
  ephemeralContainersToStart,
  ephemeralTargetId,
  withTargetPidNamespace,
} from './ephemeral-containers.js';
import { hashContainer } from './kuberuntime/index.js';
import { PodLifecycle } from './pod-lifecycle.js';
import { generatePodStatus } from './status.js';

class TestSource implements PodSource {
  readonly name = 'file';
  private readonly listeners = new Set<(u: PodUpdate) => void>();
  pods: k8s.Pod[] = [];
  start(): void {
    this.emit();
  }
  async stop(): Promise<void> {}
  subscribe(listener: (u: PodUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(pods: k8s.Pod[]): void {
    this.pods = pods;
    this.emit();
  }
  private emit(): void {
    for (const l of this.listeners) l({ op: 'SET', source: this.name, pods: this.pods });
  }
}

const debugger_: k8s.EphemeralContainer = {
  name: 'debugger',
  image: 'busybox:1',
  command: ['sh', '-c', 'echo debug; sleep 60'],
  targetContainerName: 'main',
};

function pod(uid: string, spec: Partial<k8s.PodSpec> = {}): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: uid, namespace: 'default', uid },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'main', image: 'busybox:1', command: ['sleep', '3600'] }],
      ...spec,
    },
  };
}

const memoryFs = {
  ensureDir: async () => {},
  removeAll: async () => {},
  prepareHostPath: async () => {},
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface CreatedContainer {
  name: string;
  namespaceOptions: cri.NamespaceOptionInput | null | undefined;
}

async function harness(pods: k8s.Pod[]) {
  const clock = new FakeClock();
  const runtime: FakeRuntime = createFakeRuntime({ clock, autoEvents: false });
  const created: CreatedContainer[] = [];
  const createContainer = runtime.createContainer.bind(runtime);
  runtime.createContainer = (req, opts) => {
    created.push({
      name: req?.config?.metadata?.name ?? '',
      namespaceOptions: req?.config?.linux?.securityContext?.namespaceOptions,
    });
    return createContainer(req, opts);
  };
  const pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
  const source = new TestSource();
  source.pods = pods;
  const lifecycle = new PodLifecycle({
    runtime,
    images: runtime,
    cache: pleg.cache,
    pleg,
    clock,
    sources: [source],
    nodeName: 'node-1',
    rootDir: join('/nodeagent-test', 'root'),
    podLogsDir: join('/nodeagent-test', 'logs'),
    runtimeName: 'containerd',
    memoryCapacityBytes: 8 * 1024 ** 3,
    random: { float: () => 0 },
    fs: memoryFs,
  });
  pleg.start();
  lifecycle.start();
  cleanups.push(async () => {
    await lifecycle.stop();
    await pleg.stop();
  });
  const step = async (ms = 1_000): Promise<void> => {
    for (let done = 0; done < ms; done += 100) await clock.advance(Math.min(100, ms - done));
  };
  const containers = (uid: string, name?: string) =>
    runtime
      .listContainersNow()
      .filter(
        (c) => c.labels['io.kubernetes.pod.uid'] === uid && (!name || c.metadata?.name === name),
      )
      .sort((a, b) => a.createdAt - b.createdAt);
  const status = (uid: string) => lifecycle.pods().find((v) => v.pod.metadata.uid === uid)?.status;
  await step(1_500);
  return { clock, runtime, source, lifecycle, step, containers, status, created };
}

const condition = (status: k8s.PodStatus | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type)?.status;

describe('ephemeral containers (in memory, fake clock)', () => {
  it('adding one to a running pod starts it once in the target PID namespace; app containers stay', async () => {
    const h = await harness([pod('e')]);
    const [main] = h.containers('e', 'main');
    expect(main?.state).toBe('CONTAINER_RUNNING');
    const sandboxes = h.runtime.listSandboxesNow().map((s) => s.id);

    h.source.set([pod('e', { ephemeralContainers: [debugger_] })]);
    await h.step(3_000);

    const dbg = h.containers('e', 'debugger');
    expect(dbg).toHaveLength(1);
    expect(dbg[0]?.state).toBe('CONTAINER_RUNNING');
    expect(dbg[0]?.labels['io.kubernetes.container.name']).toBe('debugger');
    // kubelet: NamespaceOption.pid = TARGET with the target's container ID.
    expect(h.created.find((c) => c.name === 'debugger')?.namespaceOptions).toMatchObject({
      pid: 'TARGET',
      targetId: main?.id,
    });
    expect(h.created.find((c) => c.name === 'main')?.namespaceOptions).toMatchObject({
      pid: 'CONTAINER',
    });
    // Nothing else restarted: same main container, same sandbox.
    expect(h.containers('e', 'main').map((c) => [c.id, c.state])).toEqual([
      [main?.id, 'CONTAINER_RUNNING'],
    ]);
    expect(h.runtime.listSandboxesNow().map((s) => s.id)).toEqual(sandboxes);

    const status = h.status('e');
    expect(status?.phase).toBe('Running');
    expect(condition(status, 'Ready')).toBe('True');
    expect(status?.containerStatuses?.map((c) => c.name)).toEqual(['main']);
    expect(status?.ephemeralContainerStatuses).toHaveLength(1);
    const ec = status?.ephemeralContainerStatuses?.[0];
    expect(ec).toMatchObject({
      name: 'debugger',
      ready: false,
      restartCount: 0,
      containerID: `containerd://${dbg[0]?.id}`,
    });
    expect(ec?.state?.running).toBeDefined();
    expect(ec?.started).toBeUndefined();

    // Later syncs start no second instance.
    await h.step(5_000);
    expect(h.containers('e', 'debugger')).toHaveLength(1);
  });

  it('an exited ephemeral container is never restarted and does not change phase or readiness', async () => {
    const h = await harness([pod('x', { ephemeralContainers: [] })]);
    h.source.set([pod('x', { ephemeralContainers: [debugger_] })]);
    await h.step(2_000);
    const [dbg] = h.containers('x', 'debugger');
    h.runtime.exitContainer(dbg!.id, 3);
    await h.step(30_000);
    expect(h.containers('x', 'debugger').map((c) => c.state)).toEqual(['CONTAINER_EXITED']);
    const status = h.status('x');
    expect(status?.phase).toBe('Running');
    expect(condition(status, 'Ready')).toBe('True');
    expect(condition(status, 'ContainersReady')).toBe('True');
    expect(status?.ephemeralContainerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 3,
      reason: 'Error',
    });
    expect(status?.ephemeralContainerStatuses?.[0]?.restartCount).toBe(0);
  });

  it('phase counts app containers only: main done under Never ends the pod, and the running ephemeral container is killed', async () => {
    const h = await harness([pod('n', { restartPolicy: 'Never' })]);
    h.source.set([pod('n', { restartPolicy: 'Never', ephemeralContainers: [debugger_] })]);
    await h.step(2_000);
    expect(h.containers('n', 'debugger')[0]?.state).toBe('CONTAINER_RUNNING');
    h.runtime.exitContainer(h.containers('n', 'main')[0]!.id, 0);
    await h.step(3_000);
    // Only app containers count: main succeeded → Succeeded, the running debugger notwithstanding.
    expect(h.status('n')?.phase).toBe('Succeeded');
    await h.step(10_000);
    expect(h.containers('n', 'debugger')[0]?.state).toBe('CONTAINER_EXITED');
    expect(h.containers('n', 'debugger')).toHaveLength(1);
  });

  it('deleting the pod kills and removes its ephemeral containers with the others', async () => {
    const h = await harness([pod('d'), pod('keep')]);
    h.source.set([pod('d', { ephemeralContainers: [debugger_] }), pod('keep')]);
    await h.step(2_000);
    expect(h.containers('d', 'debugger')[0]?.state).toBe('CONTAINER_RUNNING');
    h.source.set([pod('keep')]);
    await h.step(10_000);
    expect(h.containers('d')).toEqual([]);
    expect(h.runtime.listSandboxesNow().map((s) => s.labels['io.kubernetes.pod.uid'])).toEqual([
      'keep',
    ]);
  });

  it('a target that does not exist is a CreateContainerConfigError, retried while the pod runs', async () => {
    const h = await harness([pod('t')]);
    h.source.set([
      pod('t', { ephemeralContainers: [{ ...debugger_, targetContainerName: 'missing' }] }),
    ]);
    await h.step(2_000);
    expect(h.containers('t', 'debugger')).toEqual([]);
    const ec = h.status('t')?.ephemeralContainerStatuses?.[0];
    expect(ec?.state?.waiting).toEqual({
      reason: 'CreateContainerConfigError',
      message: 'cannot find target container "missing"',
    });
    expect(h.status('t')?.phase).toBe('Running');
    expect(h.containers('t', 'main')).toHaveLength(1);
  });
});

function runtimeStatus(containers: Partial<RuntimePodStatus['containerStatuses'][number]>[]) {
  return {
    id: 'p',
    name: 'p',
    namespace: 'default',
    ips: [],
    sandboxStatuses: [],
    containerStatuses: containers,
  } as unknown as RuntimePodStatus;
}

describe('ephemeral container helpers', () => {
  it('starts only ephemeral containers the runtime has never seen, none while deleting', () => {
    const p = pod('h', { ephemeralContainers: [debugger_, { name: 'second', image: 'b' }] });
    const status = runtimeStatus([
      { id: 'c1', name: 'debugger', state: 'CONTAINER_EXITED', createdAtMs: 1 },
    ]);
    expect(ephemeralContainersToStart(p, status).map((c) => c.name)).toEqual(['second']);
    const deleting = { ...p, metadata: { ...p.metadata, deletionTimestamp: 'x' } };
    expect(ephemeralContainersToStart(deleting, status)).toEqual([]);
  });

  it('resolves the target to its newest instance, or throws when there is none', () => {
    const status = runtimeStatus([
      { id: 'old', name: 'main', state: 'CONTAINER_EXITED', createdAtMs: 1 },
      { id: 'new', name: 'main', state: 'CONTAINER_RUNNING', createdAtMs: 2 },
    ]);
    expect(ephemeralTargetId(debugger_, status)).toBe('new');
    expect(ephemeralTargetId({ name: 'x', image: 'b' }, status)).toBeUndefined();
    expect(() => ephemeralTargetId({ ...debugger_, targetContainerName: 'nope' }, status)).toThrow(
      EphemeralTargetNotFoundError,
    );
  });

  it('switches only a per-container PID namespace to TARGET', () => {
    const config = (pid: cri.NamespaceMode): cri.ContainerConfigInput => ({
      metadata: { name: 'debugger' },
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid, ipc: 'POD' } } },
    });
    expect(
      withTargetPidNamespace(config('CONTAINER'), 'abc').linux?.securityContext?.namespaceOptions,
    ).toEqual({ network: 'NODE', pid: 'TARGET', ipc: 'POD', targetId: 'abc' });
    // shareProcessNamespace (POD) and hostPID (NODE) already share the target's namespace.
    expect(withTargetPidNamespace(config('POD'), 'abc')).toEqual(config('POD'));
    expect(withTargetPidNamespace(config('NODE'), 'abc')).toEqual(config('NODE'));
    expect(withTargetPidNamespace(config('CONTAINER'), undefined)).toEqual(config('CONTAINER'));
  });

  it('names events by spec.ephemeralContainers{name}', () => {
    const p = pod('f', { ephemeralContainers: [debugger_], initContainers: [{ name: 'init' }] });
    expect(containerEventFieldPath(p, 'debugger')).toBe('spec.ephemeralContainers{debugger}');
    expect(containerEventFieldPath(p, 'init')).toBe('spec.initContainers{init}');
    expect(containerEventFieldPath(p, 'main')).toBe('spec.containers{main}');
  });

  it('status: ephemeral statuses default to ContainerCreating (PodInitializing with init containers), app hashes unchanged', () => {
    const base = pod('s');
    const withDebug = pod('s', { ephemeralContainers: [debugger_] });
    const opts = { runtimeName: 'containerd' };
    expect(generatePodStatus(base, runtimeStatus([]), opts).ephemeralContainerStatuses).toBe(
      undefined,
    );
    expect(
      generatePodStatus(withDebug, runtimeStatus([]), opts).ephemeralContainerStatuses?.[0]?.state,
    ).toEqual({ waiting: { reason: 'ContainerCreating' } });
    const withInit = pod('s', {
      ephemeralContainers: [debugger_],
      initContainers: [{ name: 'init', image: 'b' }],
    });
    expect(
      generatePodStatus(withInit, runtimeStatus([]), opts).ephemeralContainerStatuses?.[0]?.state,
    ).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(hashContainer(withDebug.spec.containers[0]!)).toBe(
      hashContainer(base.spec.containers[0]!),
    );
  });
});
