import { describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { milliCPUToQuota, milliCPUToShares, podCgroupName, qosCgroupName } from './cgroups.js';

const guaranteed = pod(
  [container('a', undefined, { cpu: '1', memory: '1Gi' })],
  {},
  { uid: 'aaaa-bbbb' },
);
const burstable = pod([container('a', { cpu: '100m' })], {}, { uid: 'aaaa-bbbb' });
const besteffort = pod([container('a')], {}, { uid: 'aaaa-bbbb' });

describe('milliCPUToShares / milliCPUToQuota', () => {
  it('follow the kubelet constants', () => {
    expect(milliCPUToShares(0)).toBe(2);
    expect(milliCPUToShares(1)).toBe(2);
    expect(milliCPUToShares(100)).toBe(102);
    expect(milliCPUToShares(1000)).toBe(1024);
    expect(milliCPUToShares(500)).toBe(512);
    expect(milliCPUToShares(10_000_000)).toBe(262144);
    expect(milliCPUToQuota(0)).toBe(0);
    expect(milliCPUToQuota(1)).toBe(1000);
    expect(milliCPUToQuota(250)).toBe(25000);
    expect(milliCPUToQuota(1500)).toBe(150000);
    expect(milliCPUToQuota(500, 50_000)).toBe(25000);
  });
});

describe('podCgroupName', () => {
  it('cgroupfs names under the QoS hierarchy', () => {
    expect(podCgroupName(guaranteed)).toBe('/kubepods/podaaaa-bbbb');
    expect(podCgroupName(burstable)).toBe('/kubepods/burstable/podaaaa-bbbb');
    expect(podCgroupName(besteffort)).toBe('/kubepods/besteffort/podaaaa-bbbb');
  });

  it('under a cgroup root', () => {
    expect(podCgroupName(burstable, { cgroupRoot: '/nodeagent' })).toBe(
      '/nodeagent/kubepods/burstable/podaaaa-bbbb',
    );
    expect(podCgroupName(guaranteed, { cgroupRoot: '/a/b/' })).toBe('/a/b/kubepods/podaaaa-bbbb');
    expect(qosCgroupName('BestEffort', { cgroupRoot: '/nodeagent' })).toBe(
      '/nodeagent/kubepods/besteffort',
    );
    expect(qosCgroupName('Guaranteed')).toBe('/kubepods');
  });

  it('systemd slices with - escaped as _', () => {
    expect(podCgroupName(burstable, { driver: 'systemd' })).toBe(
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podaaaa_bbbb.slice',
    );
    expect(podCgroupName(guaranteed, { driver: 'systemd' })).toBe(
      '/kubepods.slice/kubepods-podaaaa_bbbb.slice',
    );
    expect(podCgroupName(besteffort, { driver: 'systemd', cgroupRoot: '/nodeagent.slice' })).toBe(
      '/nodeagent.slice/nodeagent-kubepods.slice/nodeagent-kubepods-besteffort.slice/nodeagent-kubepods-besteffort-podaaaa_bbbb.slice',
    );
    expect(qosCgroupName('Burstable', { driver: 'systemd' })).toBe(
      '/kubepods.slice/kubepods-burstable.slice',
    );
  });

  it('rejects bad input clearly', () => {
    expect(() => podCgroupName(pod([container('a')], {}, { uid: '' }))).toThrow(/no metadata.uid/);
    expect(() => podCgroupName(burstable, { cgroupRoot: 'relative' })).toThrow(/absolute/);
    expect(() => podCgroupName(burstable, { cgroupRoot: '/x', driver: 'systemd' })).toThrow(
      /\.slice/,
    );
  });
});
