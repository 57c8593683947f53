import type { k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  PredicateAdmitHandler,
  generalFilter,
  hostPortConflict,
  isExtendedResourceName,
  matchesNodeAffinity,
  toleratesTaint,
} from './predicate.js';
import type { AdmissionNode } from './types.js';

function node(extra: Partial<AdmissionNode> = {}): AdmissionNode {
  return {
    metadata: {
      name: 'node-1',
      labels: {
        'kubernetes.io/hostname': 'node-1',
        'kubernetes.io/os': 'linux',
        zone: 'a',
        rank: '5',
      },
    },
    status: {
      allocatable: {
        cpu: '2',
        memory: '4Gi',
        pods: '3',
        'ephemeral-storage': '10Gi',
        'hugepages-2Mi': '0',
        'example.com/gpu': '1',
      },
    },
    ...extra,
  };
}

let n = 0;
function pod(
  resources: k8s.ResourceRequirements = {},
  spec: Partial<k8s.PodSpec> = {},
  meta: Partial<k8s.ObjectMeta> = {},
): k8s.Pod {
  n++;
  return {
    metadata: { name: `p${n}`, namespace: 'default', uid: `uid-${n}`, ...meta },
    spec: { containers: [{ name: 'main', image: 'busybox', resources }], ...spec },
  };
}

function admit(p: k8s.Pod, others: k8s.Pod[] = [], nd: AdmissionNode | undefined = node()) {
  return new PredicateAdmitHandler({ node: () => nd }).admit({ pod: p, otherPods: others });
}

describe('PredicateAdmitHandler (kubelet predicateAdmitHandler)', () => {
  it('admits a pod that fits, and a pod without requests', () => {
    expect(admit(pod({ requests: { cpu: '500m', memory: '1Gi' } }))).toEqual({ admit: true });
    expect(admit(pod())).toEqual({ admit: true });
  });

  it('refuses more CPU than allocatable: OutOfcpu in millicores, counting the other pods', () => {
    expect(admit(pod({ requests: { cpu: '100k' } }))).toEqual({
      admit: false,
      reason: 'OutOfcpu',
      message:
        "Node didn't have enough resource: cpu, requested: 100000000, used: 0, capacity: 2000",
    });
    const others = [pod({ requests: { cpu: '1500m' } })];
    expect(admit(pod({ requests: { cpu: '600m' } }), others)).toMatchObject({
      admit: false,
      reason: 'OutOfcpu',
      message: "Node didn't have enough resource: cpu, requested: 600, used: 1500, capacity: 2000",
    });
    expect(admit(pod({ requests: { cpu: '500m' } }), others)).toEqual({ admit: true });
  });

  it('limits without requests count as requests (API defaulting); memory in bytes', () => {
    expect(admit(pod({ limits: { memory: '5Gi' } }))).toEqual({
      admit: false,
      reason: 'OutOfmemory',
      message: `Node didn't have enough resource: memory, requested: ${5 * 1024 ** 3}, used: 0, capacity: ${4 * 1024 ** 3}`,
    });
  });

  it('counts init containers as their largest step and adds the pod overhead', () => {
    const p = pod(
      { requests: { cpu: '500m' } },
      {
        initContainers: [
          { name: 'init', image: 'busybox', resources: { requests: { cpu: '1900m' } } },
        ],
        overhead: { cpu: '200m' },
      },
    );
    expect(admit(p)).toMatchObject({
      reason: 'OutOfcpu',
      message: expect.stringContaining('requested: 2100'),
    });
  });

  it('refuses a pod over the pod count: OutOfpods first', () => {
    const others = [pod(), pod(), pod()];
    expect(admit(pod({ requests: { cpu: '100k' } }), others)).toEqual({
      admit: false,
      reason: 'OutOfpods',
      message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
    });
  });

  it('ephemeral storage, hugepages and advertised extended resources are checked; unknown extended ones ignored', () => {
    expect(admit(pod({ requests: { 'ephemeral-storage': '20Gi' } }))).toMatchObject({
      reason: 'OutOfephemeral-storage',
    });
    expect(admit(pod({ requests: { 'hugepages-2Mi': '2Mi' } }))).toMatchObject({
      reason: 'OutOfhugepages-2Mi',
    });
    expect(
      admit(pod({ requests: { 'example.com/gpu': '2' }, limits: { 'example.com/gpu': '2' } })),
    ).toMatchObject({
      reason: 'OutOfexample.com/gpu',
    });
    expect(
      admit(pod({ requests: { 'other.io/fpga': '9' }, limits: { 'other.io/fpga': '9' } })),
    ).toEqual({
      admit: true,
    });
  });

  it('an unparseable quantity refuses the pod, naming it', () => {
    expect(admit(pod({ requests: { memory: 'lots' } }))).toMatchObject({
      admit: false,
      reason: 'UnexpectedAdmissionError',
      message: expect.stringContaining('lots'),
    });
  });

  it('node selector and required node affinity: NodeAffinity', () => {
    expect(admit(pod({}, { nodeSelector: { zone: 'b' } }))).toEqual({
      admit: false,
      reason: 'NodeAffinity',
      message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
    });
    expect(admit(pod({}, { nodeSelector: { zone: 'a' } }))).toEqual({ admit: true });
    const affinity = (terms: k8s.NodeSelectorTerm[]): Partial<k8s.PodSpec> => ({
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
        },
      },
    });
    const nd = node();
    const ok = (terms: k8s.NodeSelectorTerm[]) => matchesNodeAffinity(pod({}, affinity(terms)), nd);
    expect(ok([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }])).toBe(
      true,
    );
    expect(ok([{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }])).toBe(
      false,
    );
    expect(ok([{ matchExpressions: [{ key: 'gpu', operator: 'NotIn', values: ['x'] }] }])).toBe(
      true,
    );
    expect(ok([{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }])).toBe(true);
    expect(ok([{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }])).toBe(false);
    expect(ok([{ matchExpressions: [{ key: 'rank', operator: 'Gt', values: ['4'] }] }])).toBe(true);
    expect(ok([{ matchExpressions: [{ key: 'rank', operator: 'Lt', values: ['4'] }] }])).toBe(
      false,
    );
    expect(
      ok([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }]),
    ).toBe(true);
    // Terms are ORed; an empty term matches nothing.
    expect(ok([{}, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }])).toBe(
      true,
    );
    expect(ok([{}])).toBe(false);
    expect(ok([])).toBe(false);
  });

  it('another node name: NodeName', () => {
    expect(admit(pod({}, { nodeName: 'node-2' }))).toMatchObject({
      admit: false,
      reason: 'NodeName',
    });
    expect(admit(pod({}, { nodeName: 'node-1' }))).toEqual({ admit: true });
  });

  it('host ports in use by another pod: NodePorts (protocol and IP aware)', () => {
    const withPort = (hostPort: number, extra: Partial<k8s.ContainerPort> = {}): k8s.Pod => ({
      metadata: { name: `hp${++n}`, uid: `hp${n}` },
      spec: {
        containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80, hostPort, ...extra }] }],
      },
    });
    const others = [withPort(8080)];
    expect(admit(withPort(8080), others)).toMatchObject({ admit: false, reason: 'NodePorts' });
    expect(hostPortConflict(withPort(8080, { protocol: 'UDP' }), others)).toBe(false);
    expect(hostPortConflict(withPort(8081), others)).toBe(false);
    const bound = [withPort(9000, { hostIP: '127.0.0.1' })];
    expect(hostPortConflict(withPort(9000, { hostIP: '127.0.0.2' }), bound)).toBe(false);
    expect(hostPortConflict(withPort(9000), bound)).toBe(true);
  });

  it('an untolerated NoExecute taint refuses API pods, not static pods; NoSchedule is the scheduler’s', () => {
    const tainted = node({
      spec: {
        taints: [
          { key: 'dedicated', value: 'db', effect: 'NoExecute' },
          { key: 'x', effect: 'NoSchedule' },
        ],
      },
    });
    expect(admit(pod(), [], tainted)).toEqual({
      admit: false,
      reason: 'TaintToleration',
      message: "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate",
    });
    expect(
      admit(
        pod({}, { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db' }] }),
        [],
        tainted,
      ),
    ).toEqual({ admit: true });
    expect(
      admit(pod({}, {}, { annotations: { 'kubernetes.io/config.source': 'file' } }), [], tainted),
    ).toEqual({
      admit: true,
    });
    expect(toleratesTaint({ operator: 'Exists' }, { key: 'any', effect: 'NoExecute' })).toBe(true);
    expect(
      toleratesTaint(
        { key: 'k', operator: 'Exists', effect: 'NoSchedule' },
        { key: 'k', effect: 'NoExecute' },
      ),
    ).toBe(false);
    expect(
      toleratesTaint({ key: 'k', value: 'v' }, { key: 'k', value: 'w', effect: 'NoExecute' }),
    ).toBe(false);
  });

  it('OS: a pod labelled or declared for another OS is refused', () => {
    expect(admit(pod({}, {}, { labels: { 'kubernetes.io/os': 'windows' } }))).toEqual({
      admit: false,
      reason: 'PodOSSelectorNodeLabelDoesNotMatch',
      message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label",
    });
    expect(admit(pod({}, { os: { name: 'windows' } }))).toMatchObject({
      reason: 'PodOSNotSupported',
    });
    expect(admit(pod({}, { os: { name: 'linux' } }))).toEqual({ admit: true });
  });

  it('no node info: InvalidNodeInfo', () => {
    const handler = new PredicateAdmitHandler({ node: () => undefined });
    expect(handler.admit({ pod: pod(), otherPods: [] })).toEqual({
      admit: false,
      reason: 'InvalidNodeInfo',
      message: 'Kubelet cannot get node info.',
    });
  });

  it('reports every failure in the kubelet order', () => {
    const failures = generalFilter(
      pod({ requests: { cpu: '3' } }, { nodeSelector: { zone: 'z' } }),
      [],
      node(),
    );
    expect(failures.map((f) => (f.kind === 'resource' ? f.resourceName : f.name))).toEqual([
      'cpu',
      'NodeAffinity',
    ]);
  });

  it('extended resource names', () => {
    expect(isExtendedResourceName('example.com/gpu')).toBe(true);
    expect(isExtendedResourceName('kubernetes.io/foo')).toBe(false);
    expect(isExtendedResourceName('cpu')).toBe(false);
  });
});
