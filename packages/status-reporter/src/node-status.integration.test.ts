import { RealClock } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import {
  startContainerd,
  startTestApiServer,
  stopContainerd,
  type TestApiServer,
} from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testKubeApi } from './__fixtures__/node-fixtures.js';
import { NodeLeaseController } from './lease-controller.js';
import { createHostMachineInfoProvider } from './machine-info.js';
import { NodeStatusManager } from './node-status-manager.js';
import type { Lease, Node, NodeCondition } from './node-types.js';

// Node status against the real containerd: runtime version and images come from it,
// and stopping containerd turns the node NotReady. Short periods keep the test quick;
// the logic is the same as with the kubelet defaults.
describe('node status on the real containerd', () => {
  const nodeName = 'c1-integration-node';
  const clock = new RealClock();
  let server: TestApiServer;
  let cri: CriClient;
  let manager: NodeStatusManager;
  let lease: NodeLeaseController;

  beforeAll(async () => {
    const rt = realRuntime();
    server = await startTestApiServer({ tls: true });
    cri = createCriClient({ endpoint: rt.criEndpoint });
    await cri.connect();
    await cri.pullImage({ image: { image: rt.busyboxImage } });
    const api = testKubeApi(server, clock, nodeName);
    manager = new NodeStatusManager({
      nodeName,
      api,
      runtime: cri,
      images: cri,
      machineInfo: createHostMachineInfoProvider({ rootDir: rt.runtimeDir }),
      clock,
      nodeIp: '127.0.0.1',
      kubeletVersion: 'v1.33.0-nodeagent',
      nodeStatusUpdateFrequencyMs: 500,
      runtimeSyncPeriodMs: 250,
      runtimeDownThresholdMs: 1_500,
    });
    lease = new NodeLeaseController({
      nodeName,
      api,
      clock,
      renewIntervalMs: 1_000,
      nodeUid: () => manager.node()?.metadata.uid,
    });
    manager.start();
    lease.start();
  });

  afterAll(async () => {
    await lease?.stop();
    await manager?.stop();
    // Leave containerd running for the next test file whatever happened above.
    await startContainerd({ runtimeDir: realRuntime().runtimeDir }).catch(() => undefined);
    cri?.close();
    await server?.stop();
  });

  const node = (): Node =>
    server.store.get(server.store.resource('nodes'), '', nodeName) as unknown as Node;
  const ready = (): NodeCondition | undefined =>
    server.store.tryGet(server.store.resource('nodes'), '', nodeName) === undefined
      ? undefined
      : node().status?.conditions?.find((c) => c.type === 'Ready');

  it('registers a Ready node whose runtime version and images come from containerd', async () => {
    await vi.waitFor(() => expect(ready()?.status).toBe('True'), {
      timeout: 20_000,
      interval: 100,
    });
    const version = await cri.version({});
    const status = node().status;
    expect(version.runtimeName).toBe('containerd');
    expect(status?.nodeInfo?.containerRuntimeVersion).toBe(
      `containerd://${version.runtimeVersion}`,
    );
    const busybox = realRuntime().busyboxImage;
    expect(status?.images?.some((i) => i.names?.includes(busybox))).toBe(true);
    const listed = (await cri.listImages({})).images;
    expect(status?.images).toHaveLength(Math.min(50, listed.length));
    expect(Number(status?.capacity?.cpu)).toBeGreaterThan(0);
    expect(status?.capacity?.['ephemeral-storage']).toBeDefined();
    expect(node().metadata.labels?.['kubernetes.io/os']).toBe('linux');
  });

  it('renews the node Lease with an owner reference to the Node', async () => {
    const leaseOf = (): Lease | undefined =>
      server.store.tryGet(
        server.store.resource('leases', 'coordination.k8s.io'),
        'kube-node-lease',
        nodeName,
      ) as Lease | undefined;
    await vi.waitFor(
      () => expect(leaseOf()?.metadata.ownerReferences?.[0]?.uid).toBe(node().metadata.uid),
      {
        timeout: 10_000,
        interval: 100,
      },
    );
    const first = leaseOf()?.spec?.renewTime ?? '';
    await vi.waitFor(() => expect(leaseOf()?.spec?.renewTime ?? '').not.toBe(first), {
      timeout: 10_000,
      interval: 100,
    });
  });

  it('goes NotReady "container runtime is down" when containerd stops, Ready again when it is back', async () => {
    const rt = realRuntime();
    await stopContainerd({ runtimeDir: rt.runtimeDir });
    try {
      await vi.waitFor(
        () =>
          expect(ready()).toMatchObject({
            status: 'False',
            reason: 'KubeletNotReady',
            message: 'container runtime is down',
          }),
        { timeout: 20_000, interval: 100 },
      );
      expect(manager.ready()).toBe(false);
    } finally {
      await startContainerd({ runtimeDir: rt.runtimeDir });
    }
    await vi.waitFor(
      () =>
        expect(ready()).toMatchObject({
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
        }),
      { timeout: 30_000, interval: 100 },
    );
    expect(manager.ready()).toBe(true);
  });
});
