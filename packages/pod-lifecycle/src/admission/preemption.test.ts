import type { EventRecorder, k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { PredicateAdmitHandler } from './predicate.js';
import {
  CriticalPodAdmissionHandler,
  podsToPreempt,
  preemptable,
  subtractRequirements,
} from './preemption.js';
import type { AdmissionNode } from './types.js';

const node: AdmissionNode = {
  metadata: { name: 'n1', labels: { 'kubernetes.io/os': 'linux' } },
  status: { allocatable: { cpu: '1', memory: '1Gi', pods: '110' } },
};

function pod(
  name: string,
  resources: k8s.ResourceRequirements = {},
  spec: Partial<k8s.PodSpec> = {},
): k8s.Pod {
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}` },
    spec: { containers: [{ name: 'c', image: 'pause', resources }], ...spec },
  };
}

const critical = (name: string, resources: k8s.ResourceRequirements): k8s.Pod =>
  pod(name, resources, { priorityClassName: 'system-node-critical', priority: 2_000_001_000 });

const req100 = { requests: { cpu: '100m', memory: '100Mi' } };
const guaranteed100 = { requests: req100.requests, limits: req100.requests };

function setup() {
  const killed: { name: string; status: k8s.PodStatus }[] = [];
  const events: { name: string; type: string; reason: string; message: string }[] = [];
  const preemptions: string[] = [];
  const recorder: EventRecorder = {
    event: (ref, type, reason, message) =>
      events.push({ name: ref.name ?? '', type, reason, message }),
  };
  const handler = new CriticalPodAdmissionHandler({
    killPod: (p, status) => killed.push({ name: p.metadata?.name ?? '', status }),
    recorder,
    now: () => Date.parse('2026-11-28T10:00:00.500Z'),
    metrics: {
      counter: () => ({
        inc: (labels?: Record<string, string>) =>
          preemptions.push(String(labels?.preemption_signal)),
      }),
      gauge: () => ({ inc() {}, dec() {}, set() {} }),
      histogram: () => ({ observe() {} }),
    },
  });
  const predicate = new PredicateAdmitHandler({
    node: () => node,
    admissionFailureHandler: handler,
  });
  return { killed, events, preemptions, predicate };
}

describe('CriticalPodAdmissionHandler (kubelet preemption)', () => {
  it('critical_pod_test.go: a critical pod needing the whole node preempts the Burstable and Guaranteed pods, not the BestEffort one', () => {
    const { killed, events, preemptions, predicate } = setup();
    const others = [pod('best-effort'), pod('burstable', req100), pod('guaranteed', guaranteed100)];
    const result = predicate.admit({
      pod: critical('static-critical-pod', { requests: { cpu: '1', memory: '1Gi' } }),
      otherPods: others,
    });
    expect(result).toEqual({ admit: true });
    expect(killed.map((k) => k.name).sort()).toEqual(['burstable', 'guaranteed']);
    expect(killed[0]?.status).toEqual({
      phase: 'Failed',
      reason: 'Preempting',
      message: 'Preempted in order to admit critical pod',
      conditions: [
        {
          type: 'DisruptionTarget',
          status: 'True',
          reason: 'TerminationByKubelet',
          message: 'Pod was preempted by Kubelet to accommodate a critical pod.',
          lastTransitionTime: '2026-11-28T10:00:00Z',
        },
      ],
    });
    expect(events.map((e) => [e.name, e.type, e.reason, e.message]).sort()).toEqual([
      ['burstable', 'Warning', 'Preempting', 'Preempted in order to admit critical pod'],
      ['guaranteed', 'Warning', 'Preempting', 'Preempted in order to admit critical pod'],
    ]);
    expect(preemptions).toEqual(['cpu', 'cpu']);
  });

  it('a non-critical pod is refused as before, nobody is preempted', () => {
    const { killed, predicate } = setup();
    const result = predicate.admit({
      pod: pod('big', { requests: { memory: '1Gi' } }),
      otherPods: [pod('burstable', req100)],
    });
    expect(result).toMatchObject({ admit: false, reason: 'OutOfmemory' });
    expect(killed).toEqual([]);
  });

  it('a critical pod refused also for a non-resource reason keeps only that reason', () => {
    const { killed, predicate } = setup();
    const result = predicate.admit({
      pod: critical('picky', { requests: { memory: '1Gi' } }),
      otherPods: [pod('burstable', req100)],
    });
    expect(result).toEqual({ admit: true }); // fits once the Burstable pod goes
    const picky = {
      ...critical('picky2', { requests: { memory: '1Gi' } }),
    };
    picky.spec.nodeSelector = { zone: 'nowhere' };
    killed.length = 0;
    const refused = predicate.admit({ pod: picky, otherPods: [pod('burstable', req100)] });
    expect(refused).toMatchObject({ admit: false, reason: 'NodeAffinity' });
    expect(killed).toEqual([]);
  });

  it('no set of pods frees enough: UnexpectedAdmissionError with the kubelet message, nobody preempted', () => {
    const { killed, predicate } = setup();
    const result = predicate.admit({
      pod: critical('huge', { requests: { memory: '2Gi' } }),
      otherPods: [pod('burstable', req100)],
    });
    expect(result).toEqual({
      admit: false,
      reason: 'UnexpectedAdmissionError',
      message: `Unexpected error while attempting to recover from admission failure: preemption: error finding a set of pods to preempt: no set of running pods found to reclaim resources: [(res: memory, q: ${2 * 1024 ** 3 - 1024 ** 3}), ]`,
    });
    expect(killed).toEqual([]);
  });

  it('critical pods are never preempted by critical pods of the same priority', () => {
    const { killed, predicate } = setup();
    const result = predicate.admit({
      pod: critical('second', { requests: { memory: '1Gi' } }),
      otherPods: [critical('first', { requests: { memory: '512Mi' } })],
    });
    expect(result).toMatchObject({ admit: false, reason: 'UnexpectedAdmissionError' });
    expect(killed).toEqual([]);
  });
});

describe('podsToPreempt (kubelet getPodsToPreempt)', () => {
  const preemptor = critical('c', {});
  const mem = (name: string, mi: number, limits = false): k8s.Pod =>
    pod(
      name,
      limits
        ? { requests: { memory: `${mi}Mi`, cpu: '1m' }, limits: { memory: `${mi}Mi`, cpu: '1m' } }
        : { requests: { memory: `${mi}Mi` } },
    );
  const need = (mi: number) => [{ resourceName: 'memory', quantity: mi * 1024 * 1024 }];
  const names = (pods: k8s.Pod[]) => pods.map((p) => p.metadata?.name);

  it('within a class: the one pod closest to the need rather than several small ones', () => {
    expect(
      names(podsToPreempt(preemptor, [mem('a', 100), mem('b', 600), mem('c', 300)], need(550))),
    ).toEqual(['b']);
  });

  it('on equal distance the smaller request goes', () => {
    expect(
      names(podsToPreempt(preemptor, [mem('big', 900), mem('small', 700)], need(500))),
    ).toEqual(['small']);
  });

  it('BestEffort and Burstable pods go before Guaranteed ones', () => {
    expect(
      names(
        podsToPreempt(preemptor, [mem('g', 600, true), mem('b1', 300), mem('b2', 300)], need(500)),
      ).sort(),
    ).toEqual(['b1', 'b2']);
  });

  it('max pods: one pod of any class frees a pod slot', () => {
    expect(
      names(
        podsToPreempt(
          preemptor,
          [mem('g', 600, true), pod('be')],
          [{ resourceName: 'pods', quantity: 1 }],
        ),
      ),
    ).toEqual(['be']);
  });

  it('preemptable and subtract follow the kubelet', () => {
    expect(preemptable(critical('x', {}), pod('y'))).toBe(true);
    expect(preemptable(pod('y'), critical('x', {}))).toBe(false);
    expect(preemptable(pod('hi', {}, { priority: 10 }), pod('lo', {}, { priority: 5 }))).toBe(true);
    expect(preemptable(pod('hi', {}, { priority: 10 }), pod('eq', {}, { priority: 10 }))).toBe(
      false,
    );
    expect(subtractRequirements(need(500), [mem('a', 200), mem('b', 200)])).toEqual(need(100));
    expect(subtractRequirements(need(500), [mem('a', 600)])).toEqual([]);
  });
});
