import { UnavailableError, type NodePressure, type PlegHealth } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import {
  createFakeRuntime,
  startTestApiServer,
  type FakeRuntime,
  type TestApiServer,
} from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedMachineInfo, testKubeApi } from './__fixtures__/node-fixtures.js';
import { NodeStatusManager, type NodeStatusManagerOptions } from './node-status-manager.js';
import type { Node, NodeCondition } from './node-types.js';

const zeroRandom = { float: () => 0 };

describe('NodeStatusManager', () => {
  let server: TestApiServer;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let manager: NodeStatusManager | undefined;
  let pleg: PlegHealth;
  let pressure: NodePressure;

  beforeEach(async () => {
    server = await startTestApiServer({ tls: true });
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, runtimeName: 'containerd' });
    pleg = { ok: true, message: '' };
    pressure = { memory: false, disk: false, pid: false };
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await server.stop();
  });

  function create(extra: Partial<NodeStatusManagerOptions> = {}): NodeStatusManager {
    manager = new NodeStatusManager({
      nodeName: 'node-a',
      api: testKubeApi(server, clock),
      runtime,
      images: runtime,
      machineInfo: fixedMachineInfo,
      pleg: { healthy: () => pleg },
      pressure: { pressure: () => pressure },
      kubeletVersion: 'v1.33.0-nodeagent',
      clock,
      random: zeroRandom,
      ...extra,
    });
    return manager;
  }

  /** Moves fake time and waits for the status tick it started to finish (HTTP is real I/O). */
  async function step(ms: number): Promise<void> {
    await clock.advance(ms);
    await manager?.idle();
  }

  function storedNode(): Node {
    return server.store.get(server.store.resource('nodes'), '', 'node-a') as unknown as Node;
  }
  function condition(type: string): NodeCondition | undefined {
    return storedNode().status?.conditions?.find((c) => c.type === type);
  }
  const nodeWrites = (): number =>
    server.requests.filter((r) => r.resource === 'nodes' && r.verb !== 'get' && r.verb !== 'list')
      .length;
  const statusPatches = (): number =>
    server.requests.filter(
      (r) => r.resource === 'nodes' && r.subresource === 'status' && r.verb === 'patch',
    ).length;

  it('registers the Node with labels, taints, addresses, capacity, allocatable, nodeInfo, images and Ready', async () => {
    await runtime.pullImage({ image: { image: 'registry.local/small:1' } });
    await runtime.pullImage({ image: { image: 'registry.local/big:1' } });
    create({
      nodeLabels: { 'node-role.kubernetes.io/edge': '' },
      registerWithTaints: [{ key: 'edge', value: 'true', effect: 'NoSchedule' }],
      kubeReserved: { cpu: '100m', memory: '256Mi' },
    }).start();
    await step(0);
    expect(manager?.registered()).toBe(true);
    const node = storedNode();
    expect(node.metadata.labels).toEqual({
      'kubernetes.io/hostname': 'node-a',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': 'amd64',
      'node-role.kubernetes.io/edge': '',
    });
    expect(
      node.metadata.annotations?.['volumes.kubernetes.io/controller-managed-attach-detach'],
    ).toBe('true');
    expect(node.spec?.taints).toEqual([{ key: 'edge', value: 'true', effect: 'NoSchedule' }]);
    const status = node.status ?? {};
    expect(status.addresses).toEqual([
      { type: 'InternalIP', address: '10.0.0.5' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    expect(status.capacity).toEqual({
      cpu: '4',
      memory: '8Gi',
      'hugepages-2Mi': '0',
      pods: '110',
      'ephemeral-storage': '100Gi',
    });
    // 8Gi − 256Mi kube-reserved − 100Mi eviction; 100Gi − int(100Gi × float32(0.1)).
    expect(status.allocatable).toEqual({
      cpu: '3900m',
      memory: '7836Mi',
      'hugepages-2Mi': '0',
      pods: '110',
      'ephemeral-storage': '96636764000',
    });
    expect(status.nodeInfo).toEqual({
      machineID: 'machine-id-1',
      systemUUID: 'system-uuid-1',
      bootID: 'boot-id-1',
      kernelVersion: '6.1.0-test',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: 'containerd://0.0.0',
      kubeletVersion: 'v1.33.0-nodeagent',
      operatingSystem: 'linux',
      architecture: 'amd64',
    });
    expect(status.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10250 } });
    const listed = (await runtime.listImages({})).images;
    expect(status.images).toHaveLength(2);
    expect(status.images?.map((i) => i.sizeBytes)).toEqual(
      listed.map((i) => i.size).sort((a, b) => b - a),
    );
    expect(status.images?.flatMap((i) => i.names).sort()).toEqual(
      listed.flatMap((i) => [...i.repoDigests, ...i.repoTags]).sort(),
    );
    expect(status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
      ['Ready', 'True', 'KubeletReady'],
    ]);
    expect(condition('Ready')?.message).toBe('kubelet is posting ready status');
    expect(manager?.ready()).toBe(true);
    expect(manager?.node()?.metadata.uid).toBe(node.metadata.uid);
  });

  it('on AlreadyExists reads the Node and reconciles only the labels and annotations it owns', async () => {
    server.store.create(server.store.resource('nodes'), '', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'node-a',
        labels: { 'kubernetes.io/hostname': 'old-name', team: 'edge', 'kubernetes.io/os': 'linux' },
      },
    });
    create().start();
    await step(0);
    expect(manager?.registered()).toBe(true);
    const labels = storedNode().metadata.labels;
    expect(labels).toMatchObject({
      'kubernetes.io/hostname': 'node-a',
      'kubernetes.io/arch': 'amd64',
      team: 'edge',
    });
    const calls = server.requests
      .filter((r) => r.resource === 'nodes')
      .map((r) => `${r.verb}${r.subresource ? `/${r.subresource}` : ''} ${r.status}`);
    expect(calls.slice(0, 3)).toEqual(['create 409', 'get 200', 'patch 200']);
    expect(server.requests.find((r) => r.verb === 'patch')?.contentType).toContain(
      'application/strategic-merge-patch+json',
    );
    // The status written after registration makes the node Ready.
    expect(condition('Ready')?.status).toBe('True');
  });

  it('retries registration with back-off 100 ms doubling while the API server fails', async () => {
    const remove = server.faults.failRequests({
      match: { resource: 'nodes', verb: 'create' },
      code: 500,
      times: 3,
    });
    create().start();
    await clock.advance(0);
    await clock.advance(99);
    expect(manager?.registered()).toBe(false);
    await clock.advance(1); // 100 ms: second try
    await clock.advance(200); // 300 ms: third try
    await clock.advance(400); // 700 ms: fourth try succeeds
    await manager?.idle();
    expect(manager?.registered()).toBe(true);
    expect(
      server.requests
        .filter((r) => r.verb === 'create' && r.resource === 'nodes')
        .map((r) => r.status),
    ).toEqual([500, 500, 500, 201]);
    remove();
  });

  it('writes status only when it changed, and otherwise once per 5 minutes', async () => {
    create().start();
    await step(0);
    const afterRegistration = statusPatches();
    expect(afterRegistration).toBe(1);
    const firstHeartbeat = condition('Ready')?.lastHeartbeatTime;
    const writesBefore = nodeWrites();
    for (let t = 10_000; t < 300_000; t += 10_000) await step(10_000);
    expect(nodeWrites() - writesBefore).toBe(0);
    await step(10_000); // 5 min since the last write
    expect(nodeWrites() - writesBefore).toBe(1);
    expect(statusPatches()).toBe(2);
    const heartbeat = condition('Ready')?.lastHeartbeatTime;
    expect(heartbeat).not.toBe(firstHeartbeat);
    expect(Date.parse(heartbeat ?? '') - Date.parse(firstHeartbeat ?? '')).toBe(300_000);
    // A change is written at the next tick, without waiting for the report period.
    pressure = { memory: false, disk: true, pid: false };
    await step(10_000);
    expect(statusPatches()).toBe(3);
    expect(condition('DiskPressure')).toMatchObject({
      status: 'True',
      reason: 'KubeletHasDiskPressure',
      message: 'kubelet has disk pressure',
    });
  }, 60_000);

  it('goes NotReady when the runtime status fails for 30 s or the PLEG is unhealthy, and Ready again', async () => {
    const transitions: boolean[] = [];
    create().onReadyChange((ready) => transitions.push(ready));
    manager?.start();
    await step(0);
    const readySince = condition('Ready')?.lastTransitionTime;
    runtime.failAlways('status', new UnavailableError('connection refused'));
    await step(10_000);
    await step(10_000);
    expect(condition('Ready')?.status).toBe('True'); // 20 s: not yet past the 30 s threshold
    await step(10_000);
    await step(10_000);
    expect(condition('Ready')).toMatchObject({
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'container runtime is down',
    });
    expect(condition('Ready')?.lastTransitionTime).not.toBe(readySince);
    pleg = { ok: false, message: 'pleg was last seen active 3m5s ago; threshold is 3m0s' };
    await step(10_000);
    expect(condition('Ready')?.message).toBe(
      '[container runtime is down, PLEG is not healthy: pleg was last seen active 3m5s ago; threshold is 3m0s]',
    );
    runtime.clearFaults('status');
    await step(10_000);
    expect(condition('Ready')?.message).toBe(
      'PLEG is not healthy: pleg was last seen active 3m5s ago; threshold is 3m0s',
    );
    pleg = { ok: true, message: '' };
    await step(10_000);
    expect(condition('Ready')).toMatchObject({
      status: 'True',
      reason: 'KubeletReady',
      message: 'kubelet is posting ready status',
    });
    expect(transitions).toEqual([true, false, true]);
    expect(manager?.ready()).toBe(true);
  });

  it('reports the runtime network not ready in the kubelet words', async () => {
    create().start();
    await step(0);
    runtime.status = () =>
      Promise.resolve({
        status: {
          conditions: [
            { type: 'RuntimeReady', status: true, reason: '', message: '' },
            {
              type: 'NetworkReady',
              status: false,
              reason: 'NetworkPluginNotReady',
              message: 'Network plugin returns error: cni plugin not initialized',
            },
          ],
        },
        info: {},
        runtimeHandlers: [],
        features: null,
      });
    await step(10_000);
    expect(condition('Ready')).toMatchObject({
      status: 'False',
      message:
        'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
    });
  });

  it('sets the pressure conditions from the NodePressureProvider, transition time only on change', async () => {
    create().start();
    await step(0);
    const before = condition('MemoryPressure')?.lastTransitionTime;
    await step(10_000);
    pressure = { memory: true, disk: false, pid: true };
    await step(10_000);
    expect(condition('MemoryPressure')).toMatchObject({
      status: 'True',
      reason: 'KubeletHasInsufficientMemory',
      message: 'kubelet has insufficient memory available',
    });
    expect(condition('PIDPressure')).toMatchObject({
      status: 'True',
      reason: 'KubeletHasInsufficientPID',
    });
    expect(condition('DiskPressure')).toMatchObject({
      status: 'False',
      reason: 'KubeletHasNoDiskPressure',
    });
    expect(condition('MemoryPressure')?.lastTransitionTime).not.toBe(before);
    const diskTransition = condition('DiskPressure')?.lastTransitionTime;
    pressure = { memory: false, disk: false, pid: false };
    await step(10_000);
    expect(condition('MemoryPressure')).toMatchObject({
      status: 'False',
      reason: 'KubeletHasSufficientMemory',
    });
    expect(condition('DiskPressure')?.lastTransitionTime).toBe(diskTransition);
  });

  it('retries a failed update up to 5 times per tick with the Node read fresh', async () => {
    create().start();
    await step(0);
    pressure = { memory: true, disk: false, pid: false };
    server.faults.failRequests({
      match: { resource: 'nodes', subresource: 'status', verb: 'patch' },
      code: 500,
      times: 4,
    });
    const getsBefore = server.requests.filter(
      (r) => r.resource === 'nodes' && r.verb === 'get',
    ).length;
    await step(10_000);
    const patches = server.requests.filter((r) => r.subresource === 'status' && r.verb === 'patch');
    expect(patches.slice(-5).map((r) => r.status)).toEqual([500, 500, 500, 500, 200]);
    expect(
      server.requests.filter((r) => r.resource === 'nodes' && r.verb === 'get').length - getsBefore,
    ).toBe(5);
    expect(condition('MemoryPressure')?.status).toBe('True');
  });

  it('keeps Ready locally and catches up after the API server was down', async () => {
    create().start();
    await step(0);
    await server.faults.goDown();
    pressure = { memory: true, disk: false, pid: false };
    await step(10_000);
    await step(10_000);
    await server.faults.comeBack();
    await step(10_000);
    expect(condition('MemoryPressure')?.status).toBe('True');
  });

  it('stop() leaves no timers behind', async () => {
    create().start();
    await step(0);
    await manager?.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
