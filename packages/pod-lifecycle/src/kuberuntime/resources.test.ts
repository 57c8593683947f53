import { describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { linuxContainerResources, podSandboxResources } from './resources.js';

const capacity = 8 * 1024 ** 3;

describe('linuxContainerResources', () => {
  it('limited container: shares, period/quota, memory, OOM score', () => {
    const p = pod([
      container('a', { cpu: '250m', memory: '64Mi' }, { cpu: '500m', memory: '128Mi' }),
    ]);
    expect(
      linuxContainerResources(p, p.spec.containers[0]!, { memoryCapacityBytes: capacity }),
    ).toEqual({
      cpuShares: 256,
      cpuPeriod: 100000,
      cpuQuota: 50000,
      memoryLimitInBytes: 134217728,
      oomScoreAdj: 1000 - Math.floor((1000 * 64 * 1024 ** 2) / capacity),
    });
  });

  it('unlimited BestEffort container: minimum shares, no quota, no memory limit', () => {
    const p = pod([container('a')]);
    expect(
      linuxContainerResources(p, p.spec.containers[0]!, { memoryCapacityBytes: capacity }),
    ).toEqual({
      cpuShares: 2,
      cpuPeriod: 100000,
      cpuQuota: 0,
      oomScoreAdj: 1000,
    });
  });

  it('limit without request: shares from the limit; Guaranteed OOM score', () => {
    const p = pod([container('a', undefined, { cpu: '2', memory: '1Gi' })]);
    const r = linuxContainerResources(p, p.spec.containers[0]!, { memoryCapacityBytes: capacity });
    expect(r.cpuShares).toBe(2048);
    expect(r.cpuQuota).toBe(200000);
    expect(r.oomScoreAdj).toBe(-997);
  });

  it('tiny CPU limit gets the minimum quota; CFS quota can be disabled; custom period', () => {
    const p = pod([container('a', undefined, { cpu: '1m' })]);
    const c = p.spec.containers[0]!;
    expect(linuxContainerResources(p, c, { memoryCapacityBytes: capacity }).cpuQuota).toBe(1000);
    const off = linuxContainerResources(p, c, {
      memoryCapacityBytes: capacity,
      cpuCFSQuota: false,
    });
    expect(off.cpuQuota).toBeUndefined();
    expect(off.cpuPeriod).toBeUndefined();
    const p2 = pod([container('a', undefined, { cpu: '500m' })]);
    expect(
      linuxContainerResources(p2, p2.spec.containers[0]!, {
        memoryCapacityBytes: capacity,
        cpuCFSQuotaPeriodUs: 50000,
      }),
    ).toMatchObject({ cpuPeriod: 50000, cpuQuota: 25000 });
  });

  it('invalid quantities are clear errors', () => {
    const p = pod([container('a', undefined, { memory: '12 Mi' })]);
    expect(() =>
      linuxContainerResources(p, p.spec.containers[0]!, { memoryCapacityBytes: capacity }),
    ).toThrow(/limits\.memory: quantity "12 Mi" is invalid/);
  });
});

describe('podSandboxResources', () => {
  it('sums the containers', () => {
    const p = pod([
      container('a', { cpu: '100m' }, { cpu: '200m', memory: '64Mi' }),
      container('b', { cpu: '300m' }, { cpu: '1', memory: '64Mi' }),
    ]);
    expect(podSandboxResources(p)).toEqual({
      cpuShares: 409,
      cpuPeriod: 100000,
      cpuQuota: 120000,
      memoryLimitInBytes: 128 * 1024 * 1024,
    });
  });
});
