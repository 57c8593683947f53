import { describe, expect, it } from 'vitest';
import type { k8s } from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import { fnv32a, hashContainer } from './hash.js';
import {
  getContainerInfoFromAnnotations,
  getContainerInfoFromLabels,
  getPodSandboxInfoFromLabels,
  newContainerAnnotations,
  newContainerLabels,
  newPodLabels,
} from './labels.js';

describe('hashContainer', () => {
  const base: k8s.Container = {
    name: 'web',
    image: 'busybox:1',
    command: ['sh', '-c', 'sleep 1'],
    env: [{ name: 'A', value: '1' }],
    resources: { limits: { cpu: '1', memory: '1Gi' } },
  };

  it('FNV-32a matches the reference vectors', () => {
    expect(fnv32a('')).toBe(0x811c9dc5);
    expect(fnv32a('a')).toBe(0xe40c292c);
    expect(fnv32a('foobar')).toBe(0xbf9cf968);
  });

  it('is stable and independent of key order', () => {
    const reordered: k8s.Container = {
      resources: { limits: { memory: '1Gi', cpu: '1' } },
      env: [{ value: '1', name: 'A' }],
      command: ['sh', '-c', 'sleep 1'],
      image: 'busybox:1',
      name: 'web',
    };
    expect(hashContainer(base)).toBe(hashContainer(reordered));
    expect(hashContainer(base)).toBe(hashContainer(structuredClone(base)));
    expect(hashContainer(base)).toMatch(/^[0-9a-f]{1,8}$/);
    // undefined members are the same as absent ones
    expect(hashContainer({ ...base, workingDir: undefined } as unknown as k8s.Container)).toBe(
      hashContainer(base),
    );
  });

  it('changes with any field', () => {
    const variants: k8s.Container[] = [
      { ...base, image: 'busybox:2' },
      { ...base, command: ['sh', '-c', 'sleep 2'] },
      { ...base, args: ['x'] },
      { ...base, env: [{ name: 'A', value: '2' }] },
      { ...base, resources: { limits: { cpu: '2', memory: '1Gi' } } },
      { ...base, workingDir: '/tmp' },
      { ...base, ports: [{ containerPort: 80 }] },
      { ...base, name: 'web2' },
      { ...base, command: ['sh', 'sleep 1', '-c'] },
    ];
    const hashes = new Set([hashContainer(base), ...variants.map(hashContainer)]);
    expect(hashes.size).toBe(variants.length + 1);
  });
});

describe('labels and annotations', () => {
  const p = pod(
    [
      container('web', undefined, undefined, {
        ports: [
          { name: 'http', containerPort: 8080, hostPort: 18080 },
          { containerPort: 53, protocol: 'UDP' },
        ],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 1'] } } },
        terminationMessagePolicy: 'FallbackToLogsOnError',
      }),
    ],
    { terminationGracePeriodSeconds: 45, initContainers: [container('init')] },
    { labels: { app: 'web' }, annotations: { a: 'b' }, deletionGracePeriodSeconds: 10 },
  );
  const c = p.spec.containers[0]!;

  it('pod labels add the kubelet identity labels and round-trip', () => {
    const labels = newPodLabels(p);
    expect(labels).toEqual({
      app: 'web',
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.pod.namespace': 'team',
      'io.kubernetes.pod.uid': '1234-abcd',
    });
    expect(getPodSandboxInfoFromLabels(labels)).toEqual({
      labels: { app: 'web' },
      podName: 'web',
      podNamespace: 'team',
      podUid: '1234-abcd',
    });
  });

  it('container labels round-trip', () => {
    expect(getContainerInfoFromLabels(newContainerLabels(c, p))).toEqual({
      containerName: 'web',
      podName: 'web',
      podNamespace: 'team',
      podUid: '1234-abcd',
    });
    expect(getContainerInfoFromLabels({})).toEqual({
      containerName: '',
      podName: '',
      podNamespace: '',
      podUid: '',
    });
  });

  it('container annotations carry what adoption needs and round-trip', () => {
    const annotations = newContainerAnnotations(c, p, 3);
    expect(annotations).toMatchObject({
      'io.kubernetes.container.hash': hashContainer(c),
      'io.kubernetes.container.restartCount': '3',
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': 'FallbackToLogsOnError',
      'io.kubernetes.container.type': 'container',
      'io.kubernetes.pod.terminationGracePeriod': '45',
      'io.kubernetes.pod.deletionGracePeriod': '10',
      'io.kubernetes.container.preStopHandler': '{"exec":{"command":["sh","-c","sleep 1"]}}',
      'io.kubernetes.container.ports':
        '[{"name":"http","hostPort":18080,"containerPort":8080,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}]',
    });
    expect(
      newContainerAnnotations(p.spec.initContainers![0]!, p, 0)['io.kubernetes.container.type'],
    ).toBe('init');
    const info = getContainerInfoFromAnnotations(annotations);
    expect(info).toEqual({
      hash: hashContainer(c),
      restartCount: 3,
      podDeletionGracePeriod: 10,
      podTerminationGracePeriod: 45,
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'FallbackToLogsOnError',
      preStopHandler: { exec: { command: ['sh', '-c', 'sleep 1'] } },
      containerPorts: [
        { name: 'http', hostPort: 18080, containerPort: 8080, protocol: 'TCP' },
        { containerPort: 53, protocol: 'UDP' },
      ],
      containerType: 'container',
      errors: [],
    });
  });

  it('malformed annotations read as zero values with errors listed, never a throw', () => {
    const info = getContainerInfoFromAnnotations({
      'io.kubernetes.container.hash': 'xyz',
      'io.kubernetes.container.restartCount': 'three',
      'io.kubernetes.pod.terminationGracePeriod': '3.5',
      'io.kubernetes.container.preStopHandler': '{not json',
      'io.kubernetes.container.ports': '{"a":1}',
    });
    expect(info.hash).toBe('');
    expect(info.restartCount).toBe(0);
    expect(info.podTerminationGracePeriod).toBeUndefined();
    expect(info.preStopHandler).toBeUndefined();
    expect(info.containerPorts).toBeUndefined();
    expect(info.errors.map((e) => e.annotation)).toEqual([
      'io.kubernetes.container.hash',
      'io.kubernetes.container.restartCount',
      'io.kubernetes.pod.terminationGracePeriod',
      'io.kubernetes.container.preStopHandler',
      'io.kubernetes.container.ports',
    ]);
    expect(getContainerInfoFromAnnotations({})).toMatchObject({
      hash: '',
      restartCount: 0,
      errors: [],
    });
  });
});
