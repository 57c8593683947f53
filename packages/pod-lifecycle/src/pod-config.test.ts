import { PodAnnotation, type PodUpdate, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { PodConfig } from './pod-config.js';

function pod(uid: string, image = 'busybox', extra: Partial<k8s.Pod> = {}): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${uid}`, namespace: 'default', uid },
    spec: { containers: [{ name: 'c', image }] },
    ...extra,
  };
}

function collect(config: PodConfig): Array<[string, string[]]> {
  const seen: Array<[string, string[]]> = [];
  config.subscribe((u: PodUpdate) => seen.push([u.op, u.pods.map((p) => p.metadata?.uid ?? '')]));
  return seen;
}

describe('PodConfig', () => {
  it('turns SETs into ADD, UPDATE, REMOVE and ignores a SET that changes nothing', () => {
    const config = new PodConfig({ clock: new FakeClock() });
    const seen = collect(config);
    config.apply({ op: 'SET', source: 'file', pods: [pod('a'), pod('b')] });
    config.apply({ op: 'SET', source: 'file', pods: [pod('a'), pod('b')] });
    config.apply({ op: 'SET', source: 'file', pods: [pod('a', 'nginx'), pod('c')] });
    expect(seen).toEqual([
      ['ADD', ['a', 'b']],
      ['REMOVE', ['b']],
      ['ADD', ['c']],
      ['UPDATE', ['a']],
    ]);
  });

  it('skips a pod handed over again as the very same object, and still sees a new one', () => {
    const config = new PodConfig({ clock: new FakeClock() });
    const seen = collect(config);
    const a = pod('a');
    const b = pod('b');
    config.apply({ op: 'SET', source: 'api', pods: [a, b] });
    const stored = config.get('a');
    config.apply({ op: 'SET', source: 'api', pods: [a, b] });
    expect(config.get('a')).toBe(stored); // not stamped or compared again
    const a2 = pod('a', 'nginx');
    config.apply({ op: 'SET', source: 'api', pods: [a2, b] });
    // Removed and handed over again later: the same object is a new arrival.
    config.apply({ op: 'SET', source: 'api', pods: [a2] });
    config.apply({ op: 'SET', source: 'api', pods: [a2, b] });
    expect(seen).toEqual([
      ['ADD', ['a', 'b']],
      ['UPDATE', ['a']],
      ['REMOVE', ['b']],
      ['ADD', ['b']],
    ]);
  });

  it('reports a deletion timestamp as DELETE and a status-only change as RECONCILE', () => {
    const config = new PodConfig({ clock: new FakeClock() });
    const seen = collect(config);
    config.apply({ op: 'SET', source: 'api', pods: [pod('a'), pod('b')] });
    const deleting = pod('a');
    deleting.metadata = { ...deleting.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' };
    config.apply({
      op: 'SET',
      source: 'api',
      pods: [deleting, pod('b', 'busybox', { status: { phase: 'Running' } })],
    });
    expect(seen.slice(1)).toEqual([
      ['DELETE', ['a']],
      ['RECONCILE', ['b']],
    ]);
  });

  it('keeps sources apart and knows when every source has spoken', () => {
    const config = new PodConfig({ clock: new FakeClock() });
    expect(config.sourcesReady(['file', 'http'])).toBe(false);
    config.apply({ op: 'SET', source: 'file', pods: [pod('a')] });
    config.apply({ op: 'SET', source: 'http', pods: [] });
    expect(config.sourcesReady(['file', 'http'])).toBe(true);
    expect(config.pods().map((p) => p.metadata?.uid)).toEqual(['a']);
    expect(config.get('a')?.metadata?.name).toBe('p-a');
    expect(config.get('nope')).toBeUndefined();
  });

  it('stamps config.source and config.seen once', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1));
    const config = new PodConfig({ clock });
    config.apply({ op: 'SET', source: 'file', pods: [pod('a')] });
    const [first] = config.pods();
    expect(first?.metadata?.annotations).toEqual({
      [PodAnnotation.ConfigSource]: 'file',
      [PodAnnotation.ConfigSeen]: '2026-05-01T00:00:00.000Z',
    });
    await clock.advance(5_000);
    const seen = collect(config);
    // the source sends the same manifest again, without annotations: no change
    config.apply({ op: 'SET', source: 'file', pods: [pod('a')] });
    expect(seen).toEqual([]);
    config.apply({ op: 'SET', source: 'file', pods: [first!] });
    expect(config.pods()[0]?.metadata?.annotations?.[PodAnnotation.ConfigSeen]).toBe(
      '2026-05-01T00:00:00.000Z',
    );
  });

  it('ignores pods without a UID', () => {
    const config = new PodConfig({ clock: new FakeClock() });
    const seen = collect(config);
    config.apply({ op: 'SET', source: 'file', pods: [pod('')] });
    expect(seen).toEqual([]);
  });

  it('keeps mirror pods apart: never desired, found by the static pod they mirror', () => {
    const config = new PodConfig({ clock: new FakeClock() });
    const staticPod = pod('s');
    const mirror = pod('m', 'busybox', {
      metadata: {
        name: 'p-s',
        namespace: 'default',
        uid: 'm',
        annotations: { [PodAnnotation.ConfigMirror]: 'hash' },
      },
    });
    config.apply({ op: 'SET', source: 'file', pods: [staticPod] });
    config.apply({ op: 'SET', source: 'api', pods: [mirror, pod('a')] });
    expect(config.pods().map((p) => p.metadata.uid)).toEqual(['s', 'a']);
    expect(config.get('m')).toBeUndefined();
    expect(config.mirrorPods().map((p) => p.metadata.uid)).toEqual(['m']);
    expect(config.mirrorPodOf(staticPod)?.metadata.uid).toBe('m');
    expect(config.mirrorPodOf(pod('a'))).toBeUndefined();
  });
});
