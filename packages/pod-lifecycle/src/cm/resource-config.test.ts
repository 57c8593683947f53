import type { k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  cpuSharesToCpuWeight,
  hugePageLimits,
  hugePageSizeName,
  resourceConfigForPod,
} from './resource-config.js';
import { parseQuantity } from '@nodeagent/core';

type Res = { requests?: Record<string, string>; limits?: Record<string, string> };

function pod(containers: Res[], init: Res[] = []): k8s.Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: {
      containers: containers.map((resources, i) => ({
        name: `c${i}`,
        image: 'busybox',
        resources,
      })),
      initContainers: init.map((resources, i) => ({ name: `i${i}`, image: 'busybox', resources })),
    },
  };
}

describe('resourceConfigForPod (kubelet ResourceConfigForPod)', () => {
  it('Guaranteed: shares, quota, period and memory from the summed resources', () => {
    const config = resourceConfigForPod(
      pod([
        { limits: { cpu: '500m', memory: '128Mi' } },
        { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '250m', memory: '64Mi' } },
      ]),
    );
    expect(config).toMatchObject({
      cpuShares: 768,
      cpuQuota: 75_000,
      cpuPeriod: 100_000,
      memory: 192 * 2 ** 20,
    });
    expect(config.pidsLimit).toBeUndefined();
  });

  it('Burstable with limits on every container: quota and memory limit are set', () => {
    const config = resourceConfigForPod(
      pod([{ requests: { cpu: '100m' }, limits: { cpu: '500m', memory: '100Mi' } }]),
    );
    expect(config).toMatchObject({
      cpuShares: 102,
      cpuQuota: 50_000,
      cpuPeriod: 100_000,
      memory: 100 * 2 ** 20,
    });
  });

  it('Burstable where one container has no CPU limit: no quota, memory limit kept', () => {
    const config = resourceConfigForPod(
      pod([
        { requests: { cpu: '100m' }, limits: { cpu: '1', memory: '64Mi' } },
        { limits: { memory: '32Mi' } },
      ]),
    );
    expect(config.cpuShares).toBe(102);
    expect(config.cpuQuota).toBeUndefined();
    expect(config.cpuPeriod).toBeUndefined();
    expect(config.memory).toBe(96 * 2 ** 20);
  });

  it('Burstable: an init container without limits drops the pod memory limit and quota', () => {
    const config = resourceConfigForPod(
      pod([{ limits: { cpu: '1', memory: '64Mi' } }], [{ requests: { cpu: '10m' } }]),
    );
    expect(config.memory).toBeUndefined();
    expect(config.cpuQuota).toBeUndefined();
  });

  it('Burstable with only a memory request: minimum shares, no limits', () => {
    expect(resourceConfigForPod(pod([{ requests: { memory: '10Mi' } }]))).toEqual({
      cpuShares: 2,
      hugePageLimit: new Map(),
    });
  });

  it('BestEffort: 2 shares and nothing else', () => {
    expect(resourceConfigForPod(pod([{}]))).toEqual({ cpuShares: 2, hugePageLimit: new Map() });
  });

  it('cpuCFSQuota false leaves the quota unlimited (-1)', () => {
    const config = resourceConfigForPod(pod([{ limits: { cpu: '1', memory: '1Gi' } }]), {
      enforceCPULimits: false,
    });
    expect(config.cpuQuota).toBe(-1);
    expect(config.cpuPeriod).toBe(100_000);
  });

  it('a custom CFS period scales the quota; a tiny limit gets the 1 ms minimum', () => {
    expect(
      resourceConfigForPod(pod([{ limits: { cpu: '2', memory: '1Gi' } }]), { cpuPeriodUs: 50_000 }),
    ).toMatchObject({
      cpuQuota: 100_000,
      cpuPeriod: 50_000,
    });
    expect(resourceConfigForPod(pod([{ limits: { cpu: '1m', memory: '1Gi' } }])).cpuQuota).toBe(
      1_000,
    );
  });

  it('podPidsLimit is applied only when positive', () => {
    expect(resourceConfigForPod(pod([{}]), { podPidsLimit: 1024 }).pidsLimit).toBe(1024);
    expect(resourceConfigForPod(pod([{}]), { podPidsLimit: -1 }).pidsLimit).toBeUndefined();
    expect(resourceConfigForPod(pod([{}]), { podPidsLimit: 0 }).pidsLimit).toBeUndefined();
  });

  it('huge pages come from the hugepages-<size> requests, per page size', () => {
    const config = resourceConfigForPod(
      pod([
        { limits: { cpu: '1', memory: '1Gi', 'hugepages-2Mi': '4Mi' } },
        { limits: { cpu: '1', memory: '1Gi', 'hugepages-2Mi': '2Mi', 'hugepages-1Gi': '1Gi' } },
      ]),
    );
    expect(config.hugePageLimit).toEqual(
      new Map([
        [2 * 2 ** 20, 6 * 2 ** 20],
        [2 ** 30, 2 ** 30],
      ]),
    );
  });
});

describe('helpers', () => {
  it('cpuSharesToCpuWeight converts linearly like the kubelet and runc', () => {
    expect(cpuSharesToCpuWeight(2)).toBe(1);
    expect(cpuSharesToCpuWeight(1024)).toBe(39);
    expect(cpuSharesToCpuWeight(102)).toBe(4);
    expect(cpuSharesToCpuWeight(262144)).toBe(10000);
    expect(cpuSharesToCpuWeight(0)).toBe(0);
  });

  it('hugePageSizeName names page sizes like HugePageUnitSizeFromByteSize', () => {
    expect(hugePageSizeName(2 * 2 ** 20)).toBe('2MB');
    expect(hugePageSizeName(2 ** 30)).toBe('1GB');
    expect(hugePageSizeName(64 * 1024)).toBe('64KB');
    expect(hugePageSizeName(512)).toBe('512B');
    expect(hugePageSizeName(1025 * 1024 * 3)).toBeUndefined();
  });

  it('hugePageLimits ignores other resources', () => {
    expect(
      hugePageLimits({ cpu: parseQuantity('1'), 'hugepages-2Mi': parseQuantity('8Mi') }),
    ).toEqual(new Map([[2 * 2 ** 20, 8 * 2 ** 20]]));
  });
});
