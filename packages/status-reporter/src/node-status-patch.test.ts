import { describe, expect, it } from 'vitest';
import { formatBinaryBytes, formatDecimalMilli, subtractClamped } from './node-quantity.js';
import { nodeStatusChanged, nodeStatusPatch } from './node-status-patch.js';
import { nodeAllocatable, nodeImages } from './node-status-setters.js';
import { aggregateMessage } from './node-runtime-state.js';
import { formatMicroTime } from './node-api.js';
import { parseDefaultRouteInterface, parseMemTotal, parseOsRelease } from './machine-info.js';
import type { NodeStatus } from './node-types.js';
import { parseQuantity } from '@nodeagent/core';

describe('node status change detection and patch', () => {
  const base: NodeStatus = {
    capacity: { memory: '1Gi', cpu: '2' },
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        lastHeartbeatTime: '2026-01-01T00:00:00Z',
        lastTransitionTime: '2026-01-01T00:00:00Z',
        reason: 'KubeletReady',
      },
    ],
    addresses: [{ type: 'Hostname', address: 'a' }],
    images: [{ names: ['x'], sizeBytes: 1 }],
  };

  it('ignores heartbeats and compares quantities by value', () => {
    const next: NodeStatus = {
      ...base,
      capacity: { memory: '1024Mi', cpu: '2000m' },
      conditions: [{ ...base.conditions![0]!, lastHeartbeatTime: '2026-01-01T00:05:00Z' }],
    };
    expect(nodeStatusChanged(base, next)).toBe(false);
    expect(nodeStatusChanged(base, { ...next, images: [] })).toBe(true);
    expect(
      nodeStatusChanged(base, {
        ...next,
        conditions: [{ ...next.conditions![0]!, status: 'False' }],
      }),
    ).toBe(true);
  });

  it('patches conditions by type with $setElementOrder, replaces addresses, sends only what changed', () => {
    const next: NodeStatus = {
      ...base,
      conditions: [
        { ...base.conditions![0]!, lastHeartbeatTime: '2026-01-01T00:05:00Z' },
        { type: 'MemoryPressure', status: 'False' },
      ],
      addresses: [
        { type: 'InternalIP', address: '10.0.0.1' },
        { type: 'Hostname', address: 'a' },
      ],
    };
    expect(nodeStatusPatch(base, next)).toEqual({
      status: {
        '$setElementOrder/conditions': [{ type: 'Ready' }, { type: 'MemoryPressure' }],
        conditions: [
          { type: 'Ready', lastHeartbeatTime: '2026-01-01T00:05:00Z' },
          { type: 'MemoryPressure', status: 'False' },
        ],
        addresses: [
          { $patch: 'replace' },
          { type: 'InternalIP', address: '10.0.0.1' },
          { type: 'Hostname', address: 'a' },
        ],
      },
    });
    expect(nodeStatusPatch(base, base)).toBeUndefined();
  });
});

describe('quantities and setters', () => {
  it('formats canonical quantities', () => {
    expect(formatDecimalMilli(2000n)).toBe('2');
    expect(formatDecimalMilli(1900n)).toBe('1900m');
    expect(formatDecimalMilli(110_000n)).toBe('110');
    expect(formatBinaryBytes(8n * 1024n ** 3n)).toBe('8Gi');
    expect(formatBinaryBytes(8141236224n)).toBe('7950426Ki');
    expect(formatBinaryBytes(1536n)).toBe('1536');
    expect(subtractClamped('1', parseQuantity('2'))).toBe('0');
  });

  it('computes allocatable like the kubelet, huge pages taken from memory', () => {
    expect(
      nodeAllocatable(
        {
          cpu: '2',
          memory: '4Gi',
          'hugepages-2Mi': '512Mi',
          'ephemeral-storage': '1000',
          pods: '110',
        },
        { cpu: '500m' },
        { memory: '1Gi' },
        { 'memory.available': '100Mi', 'nodefs.available': '10%' },
      ),
    ).toEqual({
      cpu: '1500m',
      memory: '2460Mi',
      'hugepages-2Mi': '512Mi',
      'ephemeral-storage': '900',
      pods: '110',
    });
  });

  it('lists images largest first, at most N, at most 5 names', () => {
    const img = (id: string, size: number, tags: string[]) => ({
      id,
      size,
      repoTags: tags,
      repoDigests: [`${id}@sha256:1`],
      uid: null,
      username: '',
      spec: null,
      pinned: false,
    });
    const out = nodeImages(
      [img('a', 10, ['a:1']), img('b', 30, ['b:1', 'b:2', 'b:3', 'b:4', 'b:5']), img('c', 20, [])],
      2,
    );
    expect(out).toEqual([
      { names: ['b@sha256:1', 'b:1', 'b:2', 'b:3', 'b:4'], sizeBytes: 30 },
      { names: ['c@sha256:1'], sizeBytes: 20 },
    ]);
  });

  it('aggregates messages like utilerrors and formats MicroTime', () => {
    expect(aggregateMessage(['a'])).toBe('a');
    expect(aggregateMessage(['a', 'b', 'a'])).toBe('[a, b]');
    expect(formatMicroTime(Date.UTC(2026, 0, 1, 0, 0, 1, 234))).toBe('2026-01-01T00:00:01.234000Z');
  });

  it('parses host files', () => {
    expect(parseOsRelease('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')).toBe(
      'Debian GNU/Linux 12 (bookworm)',
    );
    expect(parseMemTotal('MemTotal:        8141236 kB\nMemFree: 1 kB')).toBe(8141236 * 1024);
    expect(
      parseDefaultRouteInterface(
        'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nlo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\neth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n',
      ),
    ).toBe('eth0');
  });
});
