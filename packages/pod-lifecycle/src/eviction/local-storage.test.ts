import type { PodStats, k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { localStorageViolation } from './local-storage.js';

const MiB = 1024 * 1024;
const t = '2026-01-01T00:00:00Z';

function pod(spec: Partial<k8s.PodSpec>): k8s.Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { containers: [{ name: 'bar', image: 'busybox' }], ...spec },
  };
}

function stats(extra: Partial<PodStats> = {}, rootfs = 0, logs = 0): PodStats {
  return {
    podRef: { name: 'p', namespace: 'ns', uid: 'u' },
    startTime: '2026-01-01T00:00:00Z',
    containers: [
      {
        name: 'bar',
        startTime: '2026-01-01T00:00:00Z',
        rootfs: { time: '2026-01-01T00:00:00Z', usedBytes: rootfs },
        logs: { time: '2026-01-01T00:00:00Z', usedBytes: logs },
      },
    ],
    ...extra,
  };
}

describe('localStorageViolation (kubelet localStorageEviction)', () => {
  it('pods.go "evicted pods should be terminal": a 5Mi container limit and 10Mi written trips the pod total first', () => {
    const p = pod({
      containers: [
        { name: 'bar', image: 'busybox', resources: { limits: { 'ephemeral-storage': '5Mi' } } },
      ],
    });
    expect(
      localStorageViolation(
        p,
        stats({ 'ephemeral-storage': { time: t, usedBytes: 10 * MiB } }, 10 * MiB),
        false,
      ),
    ).toEqual({
      signal: 'ephemeralpodfs.limit',
      message: 'Pod ephemeral local storage usage exceeds the total limit of containers 5Mi. ',
    });
  });

  it('a container over its own limit (logs plus writable layer; logs only with a dedicated image fs)', () => {
    const p = pod({
      containers: [
        { name: 'bar', image: 'busybox', resources: { limits: { 'ephemeral-storage': '4Mi' } } },
        { name: 'big', image: 'busybox', resources: { limits: { 'ephemeral-storage': '100Mi' } } },
      ],
    });
    const s = stats({ 'ephemeral-storage': { time: t, usedBytes: 5 * MiB } }, 4 * MiB, 1 * MiB);
    expect(localStorageViolation(p, s, false)).toEqual({
      signal: 'ephemeralcontainerfs.limit',
      message: 'Container bar exceeded its local ephemeral storage limit "4Mi". ',
    });
    expect(localStorageViolation(p, s, true)).toBeUndefined();
  });

  it('an emptyDir over its sizeLimit is checked first', () => {
    const p = pod({ volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '1Mi' } }] });
    expect(
      localStorageViolation(
        p,
        stats({ volume: [{ name: 'scratch', time: t, usedBytes: 2 * MiB }] }),
        false,
      ),
    ).toEqual({
      signal: 'emptydirfs.limit',
      message: 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ',
    });
    // Within the limit, or no limit: nothing.
    expect(
      localStorageViolation(
        p,
        stats({ volume: [{ name: 'scratch', time: t, usedBytes: MiB }] }),
        false,
      ),
    ).toBeUndefined();
    expect(
      localStorageViolation(
        pod({ volumes: [{ name: 'scratch', emptyDir: {} }] }),
        stats({ volume: [{ name: 'scratch', time: t, usedBytes: 100 * MiB }] }, 100 * MiB),
        false,
      ),
    ).toBeUndefined();
  });
});
