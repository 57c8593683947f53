import { describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { containerResourceFieldValue, downwardApiNodeAllocatable } from './env.js';

describe('downwardApiNodeAllocatable', () => {
  it('converts a Node status.allocatable to millicores and bytes', () => {
    expect(
      downwardApiNodeAllocatable({ cpu: '1500m', memory: '2Gi', 'ephemeral-storage': '10G' }),
    ).toEqual({ milliCPU: 1500, memoryBytes: 2 * 2 ** 30, ephemeralStorageBytes: 10e9 });
    expect(downwardApiNodeAllocatable({ cpu: '2' })).toEqual({ milliCPU: 2000 });
    expect(downwardApiNodeAllocatable(undefined)).toEqual({});
    expect(downwardApiNodeAllocatable({ cpu: 'lots', memory: '1Ki' })).toEqual({
      memoryBytes: 1024,
    });
  });

  it('is what an unset limit reads (downwardapi.go "default limits from node allocatable")', () => {
    const p = pod([container('a')]);
    const c = p.spec.containers[0]!;
    const ctx = {
      podIPs: [],
      hostIP: '',
      nodeName: 'n',
      nodeAllocatable: downwardApiNodeAllocatable({ cpu: '1500m', memory: '3Mi' }),
    };
    expect(containerResourceFieldValue(p, c, { resource: 'limits.cpu' }, ctx)).toBe('2');
    expect(containerResourceFieldValue(p, c, { resource: 'limits.cpu', divisor: '1m' }, ctx)).toBe(
      '1500',
    );
    expect(containerResourceFieldValue(p, c, { resource: 'limits.memory' }, ctx)).toBe('3145728');
    expect(containerResourceFieldValue(p, c, { resource: 'requests.cpu' }, ctx)).toBe('0');
  });
});
