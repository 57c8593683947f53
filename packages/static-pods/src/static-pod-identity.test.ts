import { createHash } from 'node:crypto';
import type { k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  applyStaticPodDefaults,
  deepHashObject,
  generateStaticPodName,
  staticPodUid,
} from './static-pod-identity.js';

const manifest = (): k8s.Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'etcd', labels: { tier: 'control-plane' } },
  spec: { containers: [{ name: 'etcd', image: 'registry.k8s.io/etcd:3.5', command: ['etcd'] }] },
});
const file = { kind: 'file', path: '/etc/kubernetes/manifests/etcd.yaml' } as const;

describe('static pod identity', () => {
  it('names the pod <name>-<node in lower case>', () => {
    expect(generateStaticPodName('etcd', 'Master-0')).toBe('etcd-master-0');
  });

  it('follows the kubelet recipe: md5(object hash, host:<node>, file:<path>)', () => {
    const pod = manifest();
    const expected = createHash('md5');
    deepHashObject(expected, pod);
    expected.update('host:node-a');
    expected.update('file:/etc/kubernetes/manifests/etcd.yaml');
    expect(staticPodUid(pod, file, 'node-a')).toBe(expected.digest('hex'));

    const url = createHash('md5');
    deepHashObject(url, pod);
    url.update('url:http://127.0.0.1/pods');
    expect(staticPodUid(pod, { kind: 'url', url: 'http://127.0.0.1/pods' }, 'node-a')).toBe(
      url.digest('hex'),
    );
  });

  it('is stable: same manifest and node → same UID, whatever the key order', () => {
    const a = manifest();
    const b: k8s.Pod = {
      spec: {
        containers: [{ command: ['etcd'], image: 'registry.k8s.io/etcd:3.5', name: 'etcd' }],
      },
      metadata: { labels: { tier: 'control-plane' }, name: 'etcd' },
      kind: 'Pod',
      apiVersion: 'v1',
    };
    expect(staticPodUid(a, file, 'node-a')).toBe(staticPodUid(b, file, 'node-a'));
    expect(staticPodUid(a, file, 'node-a')).toBe(staticPodUid(manifest(), file, 'node-a'));
  });

  it('changes with the node, the path, the source kind and any change of the pod', () => {
    const base = staticPodUid(manifest(), file, 'node-a');
    expect(staticPodUid(manifest(), file, 'node-b')).not.toBe(base);
    expect(staticPodUid(manifest(), { kind: 'file', path: '/other/etcd.yaml' }, 'node-a')).not.toBe(
      base,
    );
    const changes: ((p: k8s.Pod) => void)[] = [
      (p) => (p.spec.containers[0]!.image = 'registry.k8s.io/etcd:3.6'),
      (p) => (p.spec.containers[0]!.command = ['etcd', '--debug']),
      (p) => (p.spec.restartPolicy = 'Never'),
      (p) => (p.metadata.labels = { tier: 'other' }),
      (p) => (p.spec.containers[0]!.args = []),
      (p) => (p.spec.hostNetwork = false),
    ];
    const uids = new Set([base]);
    for (const change of changes) {
      const pod = manifest();
      change(pod);
      uids.add(staticPodUid(pod, file, 'node-a'));
    }
    expect(uids.size).toBe(changes.length + 1);
  });

  it('distinguishes values of different types and nesting', () => {
    const hash = (v: unknown): string => {
      const h = createHash('md5');
      deepHashObject(h, v);
      return h.digest('hex');
    };
    expect(hash({ a: '1' })).not.toBe(hash({ a: 1 }));
    expect(hash({ a: ['x', 'y'] })).not.toBe(hash({ a: ['xy'] }));
    expect(hash({ a: { b: 1 } })).not.toBe(hash({ 'a.b': 1 }));
    expect(hash({ a: true })).not.toBe(hash({ a: 'true' }));
    expect(hash({ a: 1, b: undefined })).toBe(hash({ a: 1 }));
  });

  it('applies the defaults without changing the manifest', () => {
    const input = manifest();
    const snapshot = structuredClone(input);
    const pod = applyStaticPodDefaults(input, { origin: file, nodeName: 'Node-A' });
    expect(input).toEqual(snapshot);
    expect(pod.metadata).toMatchObject({
      name: 'etcd-node-a',
      namespace: 'default',
      uid: staticPodUid(input, file, 'Node-A'),
      annotations: {
        'kubernetes.io/config.hash': staticPodUid(input, file, 'Node-A'),
        'kubernetes.io/config.source': 'file',
      },
    });
    expect(pod.spec.nodeName).toBe('Node-A');
    expect(pod.spec.tolerations).toEqual([{ operator: 'Exists', effect: 'NoExecute' }]);
  });
});
