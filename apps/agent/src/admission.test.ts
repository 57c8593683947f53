import { describe, expect, it } from 'vitest';
import {
  MachineInfoProvider,
  NodeStatusManagerToken,
  type MachineInfo,
} from '@nodeagent/status-reporter';
import { PredicateAdmitHandler } from '@nodeagent/pod-lifecycle';
import { createNodeGetter, localNode } from './admission.js';
import { loadAgentConfig } from './config/agent-config.js';

const machine: MachineInfo = {
  hostname: 'edge-1',
  machineId: '',
  systemUuid: '',
  bootId: '',
  kernelVersion: '6.1.0',
  osImage: 'Debian',
  operatingSystem: 'linux',
  architecture: 'amd64',
  numCores: 4,
  memoryCapacityBytes: 8 * 1024 ** 3,
  hugePages: [],
  rootFsCapacityBytes: 100 * 1024 ** 3,
  addresses: [],
};

describe('localNode (kubelet initialNode, for admission)', () => {
  it('has the node labels, registerWithTaints and allocatable = capacity − reserved − hard eviction', async () => {
    const config = await loadAgentConfig(
      { config: 'c.yaml', hostnameOverride: 'Edge-1', nodeLabels: { zone: 'z1' } },
      {
        readFile: () =>
          Promise.resolve(
            [
              'apiVersion: kubelet.config.k8s.io/v1beta1',
              'kind: KubeletConfiguration',
              'maxPods: 30',
              'kubeReserved: {cpu: 500m, memory: 1Gi}',
              'registerWithTaints: [{key: dedicated, value: edge, effect: NoExecute}]',
              '',
            ].join('\n'),
          ),
      },
    );
    const node = localNode(config, machine);
    expect(node.metadata).toEqual({
      name: 'edge-1',
      labels: expect.objectContaining({
        'kubernetes.io/hostname': 'edge-1',
        'kubernetes.io/os': 'linux',
        zone: 'z1',
      }) as unknown,
    });
    expect(node.spec?.taints).toEqual([{ key: 'dedicated', value: 'edge', effect: 'NoExecute' }]);
    // 4 cores − 500m; 8 Gi − 1 Gi − 100 Mi (memory.available hard threshold).
    expect(node.status?.allocatable).toMatchObject({ cpu: '3500m', pods: '30' });
    const handler = new PredicateAdmitHandler({ node: () => node });
    const pod = (cpu: string) => ({
      metadata: { name: 'p', uid: 'u' },
      spec: {
        tolerations: [{ key: 'dedicated', operator: 'Exists' as const }],
        containers: [{ name: 'c', image: 'i', resources: { requests: { cpu } } }],
      },
    });
    expect(handler.admit({ pod: pod('3500m'), otherPods: [] })).toEqual({ admit: true });
    expect(handler.admit({ pod: pod('3501m'), otherPods: [] })).toMatchObject({
      reason: 'OutOfcpu',
    });
  });
});

describe('createNodeGetter (kubelet getNodeAnyWay, for the downward API)', () => {
  it("is the API server's Node once registered in API mode, else the local node", async () => {
    const config = await loadAgentConfig(
      { config: 'c.yaml', hostnameOverride: 'edge-1' },
      {
        readFile: () =>
          Promise.resolve(
            'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n',
          ),
      },
    );
    const registered: {
      node?: { metadata: { name: string }; status: { allocatable: Record<string, string> } };
    } = {};
    const services = new Map<symbol, unknown>([
      [MachineInfoProvider, { read: () => Promise.resolve(machine) }],
      [NodeStatusManagerToken, { node: () => registered.node }],
    ]);
    const resolver = {
      resolve: <T>(token: symbol): T => services.get(token) as T,
      isRegistered: (token: symbol) => services.has(token),
    };
    const api = await createNodeGetter(resolver, config, { apiMode: true });
    const standalone = await createNodeGetter(resolver, config, { apiMode: false });
    // Not registered yet: the local node (4 cores, no reservations).
    expect(api().status?.allocatable?.cpu).toBe('4');
    registered.node = { metadata: { name: 'edge-1' }, status: { allocatable: { cpu: '1500m' } } };
    expect(api().status?.allocatable?.cpu).toBe('1500m');
    expect(standalone().status?.allocatable?.cpu).toBe('4');
  });
});
