import { describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { InvalidPodSpecError } from './errors.js';
import { getContainerOOMScoreAdjust, getPodQOS, isCriticalPod, isNodeCriticalPod } from './qos.js';
import { podLimits, podRequests } from './resource-lists.js';
import { quantityMilliValue, quantityValue } from '@nodeagent/core';

const gi = 1024 ** 3;

describe('getPodQOS', () => {
  it('BestEffort without requests or limits (and with zero quantities)', () => {
    expect(getPodQOS(pod([container('a'), container('b')]))).toBe('BestEffort');
    expect(getPodQOS(pod([container('a', { cpu: '0', memory: '0' })]))).toBe('BestEffort');
    // non-compute resources do not count
    expect(getPodQOS(pod([container('a', { 'ephemeral-storage': '1Gi' })]))).toBe('BestEffort');
  });

  it('Guaranteed when every container has equal cpu and memory requests and limits', () => {
    const g = pod([
      container('a', { cpu: '100m', memory: '64Mi' }, { cpu: '0.1', memory: '64Mi' }),
      container('b', { cpu: '1', memory: '1Gi' }, { cpu: '1000m', memory: '1024Mi' }),
    ]);
    expect(getPodQOS(g)).toBe('Guaranteed');
  });

  it('requests default to limits (API defaulting) → Guaranteed with limits only', () => {
    expect(getPodQOS(pod([container('a', undefined, { cpu: '500m', memory: '128Mi' })]))).toBe(
      'Guaranteed',
    );
  });

  it('Burstable when anything is unequal or missing', () => {
    expect(getPodQOS(pod([container('a', { cpu: '100m' })]))).toBe('Burstable');
    expect(
      getPodQOS(
        pod([container('a', { cpu: '100m', memory: '64Mi' }, { cpu: '200m', memory: '64Mi' })]),
      ),
    ).toBe('Burstable');
    expect(getPodQOS(pod([container('a', undefined, { cpu: '1' })]))).toBe('Burstable');
    // one Guaranteed-looking container and one BestEffort container
    expect(
      getPodQOS(pod([container('a', undefined, { cpu: '1', memory: '1Gi' }), container('b')])),
    ).toBe('Burstable');
  });

  it('counts init containers like app containers', () => {
    const p = pod([container('a', undefined, { cpu: '1', memory: '1Gi' })], {
      initContainers: [container('init')],
    });
    expect(getPodQOS(p)).toBe('Burstable');
    const q = pod([container('a')], { initContainers: [container('init', { memory: '10Mi' })] });
    expect(getPodQOS(q)).toBe('Burstable');
  });

  it('rejects invalid and negative quantities with the field named', () => {
    expect(() => getPodQOS(pod([container('a', { cpu: 'lots' })]))).toThrow(
      /spec\.containers\{a\}\.resources\.requests\.cpu: quantity "lots" is invalid/,
    );
    expect(() => getPodQOS(pod([container('a', undefined, { memory: '-1Gi' })]))).toThrow(
      InvalidPodSpecError,
    );
  });
});

describe('podRequests / podLimits', () => {
  it('sum app containers and take the larger init step; sidecars add up', () => {
    const p = pod(
      [container('a', { cpu: '100m', memory: '100Mi' }), container('b', { cpu: '200m' })],
      {
        initContainers: [
          container('init-big', { cpu: '1', memory: '10Mi' }),
          container('sidecar', { cpu: '50m', memory: '1Mi' }, undefined, {
            restartPolicy: 'Always',
          }),
          container('init-after', { cpu: '400m' }),
        ],
      },
    );
    const req = podRequests(p);
    // apps 300m + sidecar 50m = 350m < init-big 1000m
    expect(quantityMilliValue(req['cpu']!)).toBe(1000);
    // apps 100Mi + sidecar 1Mi = 101Mi > init-big 10Mi
    expect(quantityValue(req['memory']!)).toBe(101 * 1024 * 1024);
    expect(podLimits(p)).toEqual({});
  });
});

describe('critical pods', () => {
  it('static pods with system-node-critical are node-critical', () => {
    const p = pod(
      [container('a')],
      { priorityClassName: 'system-node-critical' },
      {
        annotations: { 'kubernetes.io/config.source': 'file' },
      },
    );
    expect(isCriticalPod(p)).toBe(true);
    expect(isNodeCriticalPod(p)).toBe(true);
    expect(
      isNodeCriticalPod(pod([container('a')], { priorityClassName: 'system-node-critical' })),
    ).toBe(false);
    expect(isCriticalPod(pod([container('a')], { priority: 2_000_000_000 }))).toBe(true);
    expect(
      isCriticalPod(
        pod([container('a')], {}, { annotations: { 'kubernetes.io/config.source': 'api' } }),
      ),
    ).toBe(false);
  });
});

describe('getContainerOOMScoreAdjust', () => {
  const capacity = 10 * gi;

  it('Guaranteed −997, BestEffort 1000, node-critical −997', () => {
    const g = pod([container('a', undefined, { cpu: '1', memory: '1Gi' })]);
    expect(getContainerOOMScoreAdjust(g, g.spec.containers[0]!, capacity)).toBe(-997);
    const be = pod([container('a')]);
    expect(getContainerOOMScoreAdjust(be, be.spec.containers[0]!, capacity)).toBe(1000);
    const crit = pod(
      [container('a')],
      { priorityClassName: 'system-node-critical' },
      {
        annotations: { 'kubernetes.io/config.source': 'file' },
      },
    );
    expect(getContainerOOMScoreAdjust(crit, crit.spec.containers[0]!, capacity)).toBe(-997);
  });

  it('Burstable: 1000 − 1000·request/capacity, clamped to [3, 999]', () => {
    const half = pod([container('a', { memory: '5Gi' })]);
    expect(getContainerOOMScoreAdjust(half, half.spec.containers[0]!, capacity)).toBe(500);
    const tenth = pod([container('a', { memory: '1Gi' })]);
    expect(getContainerOOMScoreAdjust(tenth, tenth.spec.containers[0]!, capacity)).toBe(900);
    const none = pod([container('a', { cpu: '100m' })]);
    expect(getContainerOOMScoreAdjust(none, none.spec.containers[0]!, capacity)).toBe(999);
    const all = pod([container('a', { memory: '10Gi' })]);
    expect(getContainerOOMScoreAdjust(all, all.spec.containers[0]!, capacity)).toBe(3);
    const tiny = pod([container('a', { memory: '1Mi' })]);
    // 1000 − floor(1000·1Mi/10Gi) = 1000 − 0 = 1000 → 999
    expect(getContainerOOMScoreAdjust(tiny, tiny.spec.containers[0]!, capacity)).toBe(999);
  });

  it('a sidecar scores no higher than the app container with the smallest request', () => {
    const p = pod([container('a', { memory: '4Gi' }), container('b', { memory: '2Gi' })], {
      initContainers: [
        container('side', { memory: '1Gi' }, undefined, { restartPolicy: 'Always' }),
      ],
    });
    const side = p.spec.initContainers![0]!;
    // own 900, min app request 2Gi → 800
    expect(getContainerOOMScoreAdjust(p, side, capacity)).toBe(800);
    expect(getContainerOOMScoreAdjust(p, p.spec.containers[0]!, capacity)).toBe(600);
  });

  it('rejects a missing memory capacity', () => {
    const p = pod([container('a', { memory: '1Gi' })]);
    expect(() => getContainerOOMScoreAdjust(p, p.spec.containers[0]!, 0)).toThrow(
      /memoryCapacityBytes/,
    );
  });
});
