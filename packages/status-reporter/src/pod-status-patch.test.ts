import type { k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  type JsonValue,
  normalizePodStatus,
  normalizeTimestamp,
  updateLastTransitionTimes,
} from './pod-status-normalize.js';
import { podStatusPatch, sameJson } from './pod-status-patch.js';

const pod: k8s.Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
  spec: {
    initContainers: [
      { name: 'z-init', image: 'i' },
      { name: 'a-init', image: 'i' },
    ],
    containers: [
      { name: 'b', image: 'i' },
      { name: 'a', image: 'i' },
    ],
  },
};

describe('normalizePodStatus', () => {
  it('cuts timestamps to seconds in UTC and sorts container statuses like the kubelet', () => {
    expect(normalizeTimestamp('2026-01-01T00:00:01.999999999Z')).toBe('2026-01-01T00:00:01Z');
    expect(normalizeTimestamp('2026-01-01T02:00:01+02:00')).toBe('2026-01-01T00:00:01Z');
    const cs = (name: string): k8s.ContainerStatus => ({
      name,
      ready: true,
      restartCount: 0,
      image: 'i',
      imageID: 'x',
      state: { running: { startedAt: '2026-01-01T00:00:01.5Z' } },
    });
    const n = normalizePodStatus(pod, {
      startTime: '2026-01-01T00:00:00.1Z',
      containerStatuses: [cs('b'), cs('a')],
      initContainerStatuses: [cs('a-init'), cs('z-init')],
    });
    expect(n.startTime).toBe('2026-01-01T00:00:00Z');
    expect(n.containerStatuses?.map((c) => c.name)).toEqual(['a', 'b']);
    expect(n.initContainerStatuses?.map((c) => c.name)).toEqual(['z-init', 'a-init']);
    expect(n.containerStatuses?.[0]?.state?.running?.startedAt).toBe('2026-01-01T00:00:01Z');
  });

  it('keeps lastTransitionTime only while the condition status is unchanged', () => {
    const old: k8s.PodStatus = {
      conditions: [
        { type: 'Ready', status: 'False', lastTransitionTime: '2025-01-01T00:00:00Z' },
        { type: 'Initialized', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' },
      ],
    };
    const next: k8s.PodStatus = {
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'Initialized', status: 'True', lastTransitionTime: '2026-05-05T00:00:00Z' },
      ],
    };
    updateLastTransitionTimes(next, old, '2026-01-01T00:00:00Z');
    expect(next.conditions?.map((c) => c.lastTransitionTime)).toEqual([
      '2026-01-01T00:00:00Z',
      '2025-01-01T00:00:00Z',
    ]);
  });
});

describe('podStatusPatch', () => {
  it('is a strategic merge patch with the UID precondition, $setElementOrder and merge keys', () => {
    const api: k8s.PodStatus = {
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastProbeTime: null },
        { type: 'Ready', status: 'False', lastProbeTime: null },
      ],
      podIPs: [{ ip: '10.0.0.1' }],
    };
    const next: k8s.PodStatus = {
      phase: 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
    };
    const { patch, unchanged } = podStatusPatch('u1', api, next);
    expect(unchanged).toBe(false);
    expect(patch).toEqual({
      metadata: { uid: 'u1' },
      status: {
        phase: 'Running',
        '$setElementOrder/conditions': [{ type: 'PodScheduled' }, { type: 'Ready' }],
        conditions: [{ type: 'Ready', status: 'True' }],
        podIPs: null,
      },
    });
  });

  it('is unchanged when only null/empty fields differ (the server sends lastProbeTime: null)', () => {
    const api: k8s.PodStatus = {
      phase: 'Running',
      message: '',
      conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }],
    };
    const next: k8s.PodStatus = {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
    };
    expect(podStatusPatch('u1', api, next)).toEqual({
      patch: { metadata: { uid: 'u1' } },
      unchanged: true,
    });
  });

  it('deletes list items with $patch: delete', () => {
    const api: k8s.PodStatus = {
      conditions: [
        { type: 'A', status: 'True' },
        { type: 'B', status: 'True' },
      ],
    };
    const next: k8s.PodStatus = { conditions: [{ type: 'A', status: 'True' }] };
    expect(podStatusPatch('u', api, next).patch.status).toEqual({
      '$setElementOrder/conditions': [{ type: 'A' }],
      conditions: [{ type: 'B', $patch: 'delete' }],
    });
  });
});

describe('sameJson', () => {
  it('agrees with comparing JSON.stringify output, key order included', () => {
    const values: (JsonValue | undefined)[] = [
      undefined,
      null,
      true,
      false,
      0,
      1,
      Number.NaN,
      '',
      '1',
      'a',
      [],
      [1, 2],
      [2, 1],
      [1, [2, { a: null }]],
      {},
      { a: 1 },
      { a: 1, b: 2 },
      { b: 2, a: 1 },
      { a: [1, { c: 'x' }] },
      { a: [1, { c: 'y' }] },
      { a: { b: { c: [] } } },
      { a: { b: { c: {} } } },
    ];
    for (const a of values) {
      for (const b of values) {
        expect(sameJson(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(
          JSON.stringify(a) === JSON.stringify(b),
        );
      }
    }
  });
});
