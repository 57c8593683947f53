import type { RuntimeContainerStatus, RuntimePodStatus, k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { computePodPhase, shouldContainerBeRestarted } from './pod-phase.js';

function cs(
  name: string,
  state: RuntimeContainerStatus['state'],
  exitCode = 0,
  createdAtMs = 1,
): RuntimeContainerStatus {
  return {
    id: `${name}-${createdAtMs}`,
    podSandboxId: 'sb',
    name,
    state,
    createdAtMs,
    startedAtMs: 1,
    finishedAtMs: state === 'CONTAINER_EXITED' ? 2 : 0,
    exitCode,
    reason: '',
    message: '',
    image: 'i',
    imageRef: 'i',
    imageId: 'i',
    attempt: 0,
    restartCount: 0,
    hash: '',
    labels: {},
    annotations: {},
  };
}
function status(...containers: RuntimeContainerStatus[]): RuntimePodStatus {
  return {
    id: 'u',
    name: 'p',
    namespace: 'default',
    ips: [],
    sandboxStatuses: [],
    containerStatuses: containers,
  };
}
function pod(policy: k8s.RestartPolicy, names = ['a', 'b'], init: k8s.Container[] = []): k8s.Pod {
  return {
    metadata: { name: 'p', uid: 'u' },
    spec: {
      restartPolicy: policy,
      initContainers: init,
      containers: names.map((name) => ({ name, image: 'i' })),
    },
  };
}

describe('computePodPhase', () => {
  it('is Pending until every container has been created', () => {
    expect(computePodPhase(pod('Always'), status(cs('a', 'CONTAINER_RUNNING')))).toBe('Pending');
  });
  it('is Running while a container runs', () => {
    expect(
      computePodPhase(
        pod('Never'),
        status(cs('a', 'CONTAINER_RUNNING'), cs('b', 'CONTAINER_EXITED', 1)),
      ),
    ).toBe('Running');
  });
  it.each([
    ['Always', 0, 'Running'],
    ['OnFailure', 0, 'Succeeded'],
    ['OnFailure', 1, 'Running'],
    ['Never', 0, 'Succeeded'],
    ['Never', 1, 'Failed'],
  ] as const)('all stopped under %s with exit %i → %s', (policy, code, phase) => {
    expect(
      computePodPhase(
        pod(policy),
        status(cs('a', 'CONTAINER_EXITED', 0), cs('b', 'CONTAINER_EXITED', code)),
      ),
    ).toBe(phase);
  });
  it('is Pending while init containers run, Failed when one fails under Never', () => {
    const init = [{ name: 'init', image: 'i' }];
    expect(
      computePodPhase(pod('Always', ['a'], init), status(cs('init', 'CONTAINER_RUNNING'))),
    ).toBe('Pending');
    expect(
      computePodPhase(pod('Never', ['a'], init), status(cs('init', 'CONTAINER_EXITED', 1))),
    ).toBe('Failed');
    expect(
      computePodPhase(pod('OnFailure', ['a'], init), status(cs('init', 'CONTAINER_EXITED', 1))),
    ).toBe('Pending');
  });
  it('ignores sidecars when deciding whether init is done', () => {
    const init = [{ name: 'side', image: 'i', restartPolicy: 'Always' as const }];
    expect(
      computePodPhase(
        pod('Always', ['a'], init),
        status(cs('side', 'CONTAINER_RUNNING'), cs('a', 'CONTAINER_RUNNING')),
      ),
    ).toBe('Running');
  });
});

describe('shouldContainerBeRestarted', () => {
  const c = { name: 'a', image: 'i' };
  it('follows the restart policy', () => {
    expect(shouldContainerBeRestarted(c, pod('Never'), undefined)).toBe(true);
    expect(shouldContainerBeRestarted(c, pod('Always'), cs('a', 'CONTAINER_RUNNING'))).toBe(false);
    expect(shouldContainerBeRestarted(c, pod('Always'), cs('a', 'CONTAINER_EXITED', 0))).toBe(true);
    expect(shouldContainerBeRestarted(c, pod('OnFailure'), cs('a', 'CONTAINER_EXITED', 0))).toBe(
      false,
    );
    expect(shouldContainerBeRestarted(c, pod('OnFailure'), cs('a', 'CONTAINER_EXITED', 2))).toBe(
      true,
    );
    expect(shouldContainerBeRestarted(c, pod('Never'), cs('a', 'CONTAINER_EXITED', 2))).toBe(false);
  });
  it('always restarts sidecars, and nothing of a pod being deleted', () => {
    const side = { name: 'a', image: 'i', restartPolicy: 'Always' as const };
    expect(shouldContainerBeRestarted(side, pod('Never'), cs('a', 'CONTAINER_EXITED', 0))).toBe(
      true,
    );
    const deleting = pod('Always');
    deleting.metadata = { ...deleting.metadata, deletionTimestamp: 'now' };
    expect(shouldContainerBeRestarted(c, deleting, cs('a', 'CONTAINER_EXITED', 1))).toBe(false);
  });
});

describe('computePodPhase of a terminal pod (podIsTerminal)', () => {
  const spec = (restartPolicy: k8s.RestartPolicy, source = 'api'): k8s.Pod => ({
    metadata: { name: 'p', uid: 'u', annotations: { 'kubernetes.io/config.source': source } },
    spec: { restartPolicy, containers: [{ name: 'a' }, { name: 'b' }] },
  });
  it('Always: Succeeded when every container exited 0, Failed otherwise', () => {
    const ok = status(cs('a', 'CONTAINER_EXITED', 0), cs('b', 'CONTAINER_EXITED', 0));
    const bad = status(cs('a', 'CONTAINER_EXITED', 0), cs('b', 'CONTAINER_EXITED', 143));
    expect(computePodPhase(spec('Always'), ok)).toBe('Running');
    expect(computePodPhase(spec('Always'), ok, true)).toBe('Succeeded');
    expect(computePodPhase(spec('Always'), bad, true)).toBe('Failed');
    expect(computePodPhase(spec('OnFailure'), bad, true)).toBe('Failed');
  });
  it('a container that never ran counts as failed', () => {
    expect(computePodPhase(spec('Always'), status(cs('a', 'CONTAINER_EXITED', 0)), true)).toBe(
      'Failed',
    );
  });
  it('static pods keep the non-terminal phase, as in the kubelet', () => {
    const ok = status(cs('a', 'CONTAINER_EXITED', 0), cs('b', 'CONTAINER_EXITED', 0));
    expect(computePodPhase(spec('Always', 'file'), ok, true)).toBe('Running');
  });
});
