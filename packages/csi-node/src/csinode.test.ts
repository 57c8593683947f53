import { KubeConfig } from '@kubernetes/client-node';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi, type KubeApi } from '@nodeagent/kube-client';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeCsiNodeInfoWriter, csiNodeIdAnnotation } from './csinode.js';

let server: TestApiServer;
let api: KubeApi;
let writer: KubeCsiNodeInfoWriter;

beforeEach(async () => {
  server = await startTestApiServer({ clock: new FakeClock() });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  api = createKubeApi(kc, { qps: 0 });
  server.store.create(server.store.resource('nodes'), '', {
    metadata: { name: 'node-1', annotations: { [csiNodeIdAnnotation]: '{"other.csi":"o-1"}' } },
  });
  writer = new KubeCsiNodeInfoWriter({ api, nodeName: 'node-1' });
});
afterEach(async () => {
  api.limiter.stop();
  await server.stop();
});

function node(): {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string>; uid: string };
} {
  return server.store.get(server.store.resource('nodes'), '', 'node-1') as never;
}
function csiNode():
  { metadata: { ownerReferences?: unknown[] }; spec: { drivers: unknown[] } } | undefined {
  try {
    return server.store.get(
      server.store.resource('csinodes', 'storage.k8s.io'),
      '',
      'node-1',
    ) as never;
  } catch {
    return undefined;
  }
}

describe('KubeCsiNodeInfoWriter', () => {
  it('merges the node id annotation, sets topology labels and keeps the CSINode', async () => {
    await writer.installDriver({
      name: 'a.csi.test',
      nodeId: 'a-1',
      maxVolumesPerNode: 5,
      topology: { 'topology.a/zone': 'z1' },
    });
    expect(JSON.parse(node().metadata.annotations![csiNodeIdAnnotation]!)).toEqual({
      'a.csi.test': 'a-1',
      'other.csi': 'o-1',
    });
    expect(node().metadata.labels).toMatchObject({ 'topology.a/zone': 'z1' });
    expect(csiNode()?.spec.drivers).toEqual([
      {
        name: 'a.csi.test',
        nodeID: 'a-1',
        topologyKeys: ['topology.a/zone'],
        allocatable: { count: 5 },
      },
    ]);
    expect(csiNode()?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Node', name: 'node-1', uid: node().metadata.uid }),
    ]);

    await writer.installDriver({ name: 'b.csi.test', nodeId: 'b-1', maxVolumesPerNode: 0 });
    // Re-registration replaces the entry.
    await writer.installDriver({ name: 'a.csi.test', nodeId: 'a-2', maxVolumesPerNode: 0 });
    expect(csiNode()?.spec.drivers).toEqual([
      { name: 'b.csi.test', nodeID: 'b-1', topologyKeys: [] },
      { name: 'a.csi.test', nodeID: 'a-2', topologyKeys: [] },
    ]);

    await writer.uninstallDriver('a.csi.test');
    expect(JSON.parse(node().metadata.annotations![csiNodeIdAnnotation]!)).toEqual({
      'b.csi.test': 'b-1',
      'other.csi': 'o-1',
    });
    expect(csiNode()?.spec.drivers).toEqual([
      { name: 'b.csi.test', nodeID: 'b-1', topologyKeys: [] },
    ]);
    // Topology labels stay, as in kubelet.
    expect(node().metadata.labels).toMatchObject({ 'topology.a/zone': 'z1' });
  });

  it('removes the annotation when the last driver goes', async () => {
    server.store.update(server.store.resource('nodes'), '', {
      ...node(),
      metadata: { ...node().metadata, annotations: {} },
    });
    await writer.installDriver({ name: 'a.csi.test', nodeId: 'a-1', maxVolumesPerNode: 0 });
    await writer.uninstallDriver('a.csi.test');
    expect(node().metadata.annotations?.[csiNodeIdAnnotation]).toBeUndefined();
    expect(csiNode()?.spec.drivers).toEqual([]);
  });

  it('fails when the Node does not exist', async () => {
    const other = new KubeCsiNodeInfoWriter({ api, nodeName: 'missing', clock: new FakeClock() });
    const done = other.installDriver({ name: 'a.csi.test', nodeId: 'a', maxVolumesPerNode: 0 });
    await expect(done).rejects.toThrow();
  });
});
