import type { k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { activePodsOf, type PodActivityView } from './active-pods.js';
import { isRestartableInitContainer, podResourcesOf } from './pod-resources.js';

const c = (name: string, extra: Partial<k8s.Container> = {}): k8s.Container => ({
  name,
  image: 'busybox',
  ...extra,
});

const pod = (name: string, spec: Partial<k8s.PodSpec> = {}, status?: k8s.PodStatus): k8s.Pod => ({
  metadata: { name, namespace: 'ns1', uid: `uid-${name}` },
  spec: { containers: [c('app')], ...spec },
  ...(status ? { status } : {}),
});

describe('podResourcesOf (kubelet v1 server List/Get entry)', () => {
  it('lists sidecars (restartable init containers) in spec order, then app containers; no plain init or ephemeral containers', () => {
    const p = pod('web', {
      initContainers: [
        c('setup'),
        c('proxy', { restartPolicy: 'Always' }),
        c('migrate'),
        c('logs', { restartPolicy: 'Always' }),
      ],
      containers: [c('main'), c('helper')],
      ephemeralContainers: [{ name: 'debugger', image: 'busybox' }],
    });
    const r = podResourcesOf(p);
    expect(r.name).toBe('web');
    expect(r.namespace).toBe('ns1');
    expect(r.containers.map((x) => x.name)).toEqual(['proxy', 'logs', 'main', 'helper']);
    for (const x of r.containers) {
      expect(x).toEqual({
        name: x.name,
        devices: [],
        cpuIds: [],
        memory: [],
        dynamicResources: [],
      });
    }
    expect(r.cpuIds).toEqual([]);
    expect(r.memory).toEqual([]);
  });

  it('isRestartableInitContainer is restartPolicy Always only', () => {
    expect(isRestartableInitContainer(c('a', { restartPolicy: 'Always' }))).toBe(true);
    expect(isRestartableInitContainer(c('b'))).toBe(false);
  });
});

describe('activePodsOf (kubelet GetActivePods / filterOutInactivePods)', () => {
  const view = (
    p: k8s.Pod,
    phase: PodActivityView['phase'],
    statusPhase?: k8s.PodStatus['phase'],
  ): PodActivityView => ({
    pod: p,
    phase,
    status: statusPhase ? { phase: statusPhase } : undefined,
  });

  it('keeps syncing, not-yet-started and terminating pods; drops terminated workers and terminal pods not terminating', () => {
    const views = [
      view(pod('syncing'), 'syncing', 'Running'),
      view(pod('new'), undefined),
      view(pod('deleting'), 'terminating', 'Running'),
      view(pod('finishing'), 'terminating', 'Succeeded'),
      view(pod('done'), 'terminated', 'Succeeded'),
      view(pod('stopped'), 'terminated', 'Running'),
      view(pod('succeeded'), 'syncing', 'Succeeded'),
      view(pod('failed'), 'syncing', 'Failed'),
      view(pod('api-failed', {}, { phase: 'Failed' }), undefined),
    ];
    expect(activePodsOf(views).map((p) => p.metadata.name)).toEqual([
      'syncing',
      'new',
      'deleting',
      'finishing',
    ]);
  });
});
