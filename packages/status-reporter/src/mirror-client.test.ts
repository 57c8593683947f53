import { KubeConfig } from '@kubernetes/client-node';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  PodAnnotation,
  type k8s,
} from '@nodeagent/core';
import { createKubeApi, type KubeApi } from '@nodeagent/kube-client';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiMirrorClient, parsePodFullName } from './mirror-client.js';

const node = 'mirror-node';
const namespace = 'mirror-test';
let server: TestApiServer;
let api: KubeApi;

beforeAll(async () => {
  server = await startTestApiServer();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  api = createKubeApi(kc, { qps: 0 });
  server.store.create(server.store.resource('namespaces'), '', { metadata: { name: namespace } });
});
afterAll(async () => {
  api.limiter.stop();
  await server.stop();
});

function staticPod(name: string, hash: string): k8s.Pod {
  return {
    metadata: {
      name,
      namespace,
      uid: hash,
      resourceVersion: '7',
      labels: { app: 'web' },
      annotations: { [PodAnnotation.ConfigSource]: 'file', [PodAnnotation.ConfigHash]: hash },
    },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'busybox' }] },
    status: { phase: 'Running' },
  };
}

const stored = (name: string): k8s.Pod | undefined =>
  server.store.tryGet(server.store.resource('pods'), namespace, name) as unknown as
    k8s.Pod | undefined;

describe('ApiMirrorClient', () => {
  it('fails clearly while the Node is not registered', async () => {
    const client = new ApiMirrorClient({ api, nodeName: node });
    await expect(client.createMirrorPod(staticPod('early', 'h0'))).rejects.toThrow(
      FailedPreconditionError,
    );
    expect(stored('early')).toBeUndefined();
  });

  it('creates the mirror pod: spec, labels, annotations + config.mirror, Node owner; no uid/resourceVersion', async () => {
    const nodeObj = server.store.create(server.store.resource('nodes'), '', {
      metadata: { name: node },
    });
    const nodeUid = (nodeObj.metadata as { uid: string }).uid;
    const client = new ApiMirrorClient({ api, nodeName: node });
    await client.createMirrorPod(staticPod('web', 'hash-1'));
    const mirror = stored('web');
    expect(mirror?.metadata.annotations).toMatchObject({
      [PodAnnotation.ConfigMirror]: 'hash-1',
      [PodAnnotation.ConfigHash]: 'hash-1',
      [PodAnnotation.ConfigSource]: 'file',
    });
    expect(mirror?.metadata.labels).toEqual({ app: 'web' });
    expect(mirror?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid, controller: true },
    ]);
    expect(mirror?.metadata.uid).not.toBe('hash-1');
    expect(mirror?.spec.containers[0]?.image).toBe('busybox');
    const create = server.requests.filter((r) => r.verb === 'create' && r.namespace === namespace);
    expect(create.at(-1)).toMatchObject({ status: 201, name: '' });
    // Already there: no error, left alone.
    await client.createMirrorPod(staticPod('web', 'hash-1'));
    expect(stored('web')?.metadata.uid).toBe(mirror?.metadata.uid);
  });

  it('deletes with grace 0 only when the UID matches; 404 is false', async () => {
    const client = new ApiMirrorClient({ api, nodeName: node });
    await client.createMirrorPod(staticPod('gone', 'hash-2'));
    const uid = stored('gone')?.metadata.uid ?? '';
    expect(await client.deleteMirrorPod(`gone_${namespace}`, 'some-other-uid')).toBe(false);
    expect(stored('gone')).toBeDefined();
    expect(await client.deleteMirrorPod(`gone_${namespace}`, uid)).toBe(true);
    // Grace 0: gone at once although the pod is bound to a node.
    expect(stored('gone')).toBeUndefined();
    expect(await client.deleteMirrorPod(`gone_${namespace}`, uid)).toBe(false);
    await client.createMirrorPod(staticPod('gone', 'hash-3'));
    expect(await client.deleteMirrorPod(`gone_${namespace}`)).toBe(true);
    expect(stored('gone')).toBeUndefined();
    await expect(client.deleteMirrorPod('no-namespace')).rejects.toThrow(InvalidArgumentError);
  });
});

describe('parsePodFullName', () => {
  it('splits name_namespace like the kubelet', () => {
    expect(parsePodFullName('etcd-node1_kube-system')).toEqual({
      name: 'etcd-node1',
      namespace: 'kube-system',
    });
    for (const bad of ['', 'a', 'a_', '_b', 'a_b_c']) {
      expect(() => parsePodFullName(bad)).toThrow(InvalidArgumentError);
    }
  });
});
