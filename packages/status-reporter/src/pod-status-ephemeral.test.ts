/** Ephemeral container statuses through normalization and the status patch. */
import type { k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { hasRunningContainers, normalizePodStatus } from './pod-status-normalize.js';
import { podStatusPatch } from './pod-status-patch.js';

const pod: k8s.Pod = {
  metadata: { name: 'p', namespace: 'default', uid: 'u1' },
  spec: {
    nodeName: 'node-1',
    containers: [{ name: 'main', image: 'i' }],
    ephemeralContainers: [
      { name: 'zz-debug', image: 'i' },
      { name: 'debug', image: 'i', targetContainerName: 'main' },
    ],
  },
};

function cs(name: string, state: k8s.ContainerState): k8s.ContainerStatus {
  return { name, ready: false, restartCount: 0, image: 'i', imageID: 'x', state };
}

let server: TestApiServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('ephemeral container statuses', () => {
  it('are normalized like the kubelet: second timestamps, sorted by name, messages share the budget', () => {
    const long = 'x'.repeat(12 * 1024);
    const n = normalizePodStatus(pod, {
      ephemeralContainerStatuses: [
        cs('zz-debug', { running: { startedAt: '2026-01-01T00:00:01.5Z' } }),
        cs('debug', { terminated: { exitCode: 1, message: long } }),
      ],
    });
    expect(n.ephemeralContainerStatuses?.map((c) => c.name)).toEqual(['debug', 'zz-debug']);
    expect(n.ephemeralContainerStatuses?.[1]?.state?.running?.startedAt).toBe(
      '2026-01-01T00:00:01Z',
    );
    // 12 KiB shared by three containers (one app, two ephemeral).
    expect(n.ephemeralContainerStatuses?.[0]?.state?.terminated?.message).toHaveLength(4096);
  });

  it('a running ephemeral container counts as a running container', () => {
    expect(
      hasRunningContainers({ ephemeralContainerStatuses: [cs('debug', { running: {} })] }),
    ).toBe(true);
    expect(
      hasRunningContainers({
        ephemeralContainerStatuses: [cs('debug', { terminated: { exitCode: 0 } })],
      }),
    ).toBe(false);
  });

  it('reach the API server through the strategic merge status patch (merge key name)', async () => {
    server = await startTestApiServer({ clock: new FakeClock() });
    const { ephemeralContainers: _added, ...specOnCreate } = pod.spec;
    const base = `${server.url}/api/v1/namespaces/default/pods`;
    const created = await fetch(base, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ metadata: { name: 'p' }, spec: specOnCreate }),
    });
    expect(created.status).toBe(201);
    const uid = ((await created.json()) as k8s.Pod).metadata.uid ?? '';
    const added = await fetch(`${base}/p/ephemeralcontainers`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/strategic-merge-patch+json' },
      body: JSON.stringify({ spec: { ephemeralContainers: pod.spec.ephemeralContainers } }),
    });
    expect(added.status).toBe(200);

    const send = async (api: k8s.PodStatus, next: k8s.PodStatus): Promise<k8s.PodStatus> => {
      const { patch } = podStatusPatch(uid, api, next);
      const res = await fetch(`${base}/p/status`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/strategic-merge-patch+json' },
        body: JSON.stringify(patch),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as k8s.Pod).status ?? {};
    };
    const first: k8s.PodStatus = {
      phase: 'Running',
      containerStatuses: [cs('main', { running: { startedAt: '2026-01-01T00:00:00Z' } })],
    };
    const api1 = await send({ phase: 'Pending' }, first);
    const second: k8s.PodStatus = {
      ...first,
      ephemeralContainerStatuses:
        normalizePodStatus(pod, {
          ephemeralContainerStatuses: [
            cs('zz-debug', { waiting: { reason: 'ContainerCreating' } }),
            cs('debug', { running: { startedAt: '2026-01-01T00:00:05Z' } }),
          ],
        }).ephemeralContainerStatuses ?? [],
    };
    const api2 = await send(api1, second);
    expect(
      api2.ephemeralContainerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})]),
    ).toEqual([
      ['debug', ['running']],
      ['zz-debug', ['waiting']],
    ]);
    expect(api2.containerStatuses).toEqual(api1.containerStatuses);
    // One entry changes: the patch carries that entry only, keyed by name.
    const third: k8s.PodStatus = {
      ...second,
      ephemeralContainerStatuses: [
        cs('debug', { terminated: { exitCode: 0, reason: 'Completed' } }),
        second.ephemeralContainerStatuses![1]!,
      ],
    };
    const patch = podStatusPatch(uid, api2, third).patch as { status?: k8s.PodStatus };
    expect(patch.status?.ephemeralContainerStatuses?.map((c) => c.name)).toEqual(['debug']);
    const api3 = await send(api2, third);
    expect(api3.ephemeralContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    expect(api3.ephemeralContainerStatuses?.[1]?.state?.waiting?.reason).toBe('ContainerCreating');
  });
});
