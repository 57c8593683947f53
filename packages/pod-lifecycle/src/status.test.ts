/**
 * generatePodStatus / applyReadiness against what the kubelet reports in the e2e
 * scenarios of init_container.go, runtime.go and lifecycle_hook.go.
 */
import type { RuntimeContainerStatus, RuntimePodStatus, k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  applyReadiness,
  generatePodStatus,
  needToReconcilePodReadiness,
  withObservedGeneration,
  type ContainerWaitingReason,
} from './status.js';

let created = 0;
function ctr(
  name: string,
  state: RuntimeContainerStatus['state'],
  exitCode = 0,
  restartCount = 0,
): RuntimeContainerStatus {
  created += 1;
  return {
    id: `${name}-${created}`,
    podSandboxId: 'sb',
    name,
    state,
    createdAtMs: created * 1000,
    startedAtMs: created * 1000,
    finishedAtMs: state === 'CONTAINER_EXITED' ? created * 1000 + 500 : 0,
    exitCode,
    reason: '',
    message: '',
    image: 'busybox:1',
    imageRef: 'sha256:x',
    imageId: 'sha256:x',
    attempt: restartCount,
    restartCount,
    hash: '',
    labels: {},
    annotations: {},
  };
}

function runtime(...containers: RuntimeContainerStatus[]): RuntimePodStatus {
  return {
    id: 'uid',
    name: 'p',
    namespace: 'ns',
    ips: [],
    sandboxStatuses: [],
    containerStatuses: containers,
  };
}

function pod(spec: Partial<k8s.PodSpec>): k8s.Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'uid' },
    spec: { containers: [{ name: 'run1', image: 'busybox:1' }], ...spec },
  };
}

const inits = [
  { name: 'init1', image: 'busybox:1' },
  { name: 'init2', image: 'busybox:1' },
];

const cond = (s: k8s.PodStatus, type: string) => s.conditions?.find((c) => c.type === type);

describe('generatePodStatus', () => {
  it('Initialized names the init containers not done: [init1 init2] while init1 crash-loops (RestartAlways)', () => {
    const waiting = new Map<string, ContainerWaitingReason>([
      ['init1', { reason: 'CrashLoopBackOff', message: 'back-off 10s' }],
    ]);
    const s = generatePodStatus(
      pod({ initContainers: inits }),
      runtime(ctr('init1', 'CONTAINER_EXITED', 1, 0), ctr('init1', 'CONTAINER_EXITED', 1, 1)),
      { runtimeName: 'containerd', waiting },
    );
    expect(s.phase).toBe('Pending');
    expect(cond(s, 'Initialized')).toEqual({
      type: 'Initialized',
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [init1 init2]',
    });
    expect(s.initContainerStatuses?.[0]?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(s.initContainerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(1);
    expect(s.initContainerStatuses?.[1]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(s.containerStatuses?.[0]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
  });

  it("image is the running container's (after an image update, until it is replaced), else the spec's", () => {
    const running = { ...ctr('run1', 'CONTAINER_RUNNING'), image: 'busybox:1' };
    const updated = pod({ containers: [{ name: 'run1', image: 'busybox:2' }] });
    const before = generatePodStatus(updated, runtime(running), { runtimeName: 'containerd' });
    expect(before.containerStatuses?.[0]?.image).toBe('busybox:1');
    const none = generatePodStatus(updated, runtime(), { runtimeName: 'containerd' });
    expect(none.containerStatuses?.[0]?.image).toBe('busybox:2');
  });

  it('a terminal Never pod whose init2 failed keeps the app container Waiting (kubelet TerminatePod: the pod never initialized)', () => {
    const s = generatePodStatus(
      pod({ restartPolicy: 'Never', initContainers: inits }),
      runtime(ctr('init1', 'CONTAINER_EXITED', 0), ctr('init2', 'CONTAINER_EXITED', 1)),
      { runtimeName: 'containerd', podIsTerminal: true },
    );
    expect(s.phase).toBe('Failed');
    expect(s.initContainerStatuses?.map((c) => c.state?.terminated?.exitCode)).toEqual([0, 1]);
    expect(s.containerStatuses?.[0]?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(cond(s, 'Initialized')?.message).toBe('containers with incomplete status: [init2]');
  });

  it('a terminal pod deleted while init1 runs: init1 ContainerStatusUnknown, init2 and the app container stay Waiting', () => {
    const s = generatePodStatus(
      pod({ initContainers: inits }),
      runtime(ctr('init1', 'CONTAINER_RUNNING')),
      { runtimeName: 'containerd', podIsTerminal: true },
    );
    expect(s.initContainerStatuses?.[0]?.state?.terminated).toEqual({
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was terminated',
    });
    expect(s.initContainerStatuses?.[1]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(s.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
  });

  it('a terminal initialized pod: every app container terminated, an exited one with its own exit code', () => {
    const s = generatePodStatus(
      pod({ containers: [{ name: 'a' }, { name: 'b' }] }),
      runtime(ctr('a', 'CONTAINER_EXITED', 143)),
      { runtimeName: 'containerd', podIsTerminal: true },
    );
    expect(s.containerStatuses?.map((c) => c.state?.terminated?.exitCode)).toEqual([143, 137]);
    expect(s.containerStatuses?.[1]?.state?.terminated?.reason).toBe('ContainerStatusUnknown');
  });

  it('a start error shows as Waiting only when the container will start again (kubelet ShouldContainerBeRestarted)', () => {
    const waiting = new Map<string, ContainerWaitingReason>([
      ['run1', { reason: 'PostStartHookError', message: 'Exec lifecycle hook … failed' }],
    ]);
    const exited = runtime(ctr('run1', 'CONTAINER_EXITED', 137));
    const never = generatePodStatus(pod({ restartPolicy: 'Never' }), exited, {
      runtimeName: 'containerd',
      waiting,
    });
    expect(never.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(137);
    expect(never.phase).toBe('Failed');
    const always = generatePodStatus(pod({}), exited, { runtimeName: 'containerd', waiting });
    expect(always.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PostStartHookError');
    expect(always.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    // never created (image pull failed): Waiting whatever the policy
    const pull = new Map([['run1', { reason: 'ErrImagePull', message: 'no such host' }]]);
    const notCreated = generatePodStatus(pod({ restartPolicy: 'Never' }), runtime(), {
      runtimeName: 'containerd',
      waiting: pull,
    });
    expect(notCreated.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ErrImagePull');
    expect(notCreated.phase).toBe('Pending');
  });

  it('a Succeeded pod: Initialized True with reason PodCompleted; Ready False PodCompleted', () => {
    const p = pod({ restartPolicy: 'Never', initContainers: inits });
    const s = applyReadiness(
      p,
      generatePodStatus(
        p,
        runtime(
          ctr('init1', 'CONTAINER_EXITED', 0),
          ctr('init2', 'CONTAINER_EXITED', 0),
          ctr('run1', 'CONTAINER_EXITED', 0),
        ),
        { runtimeName: 'containerd' },
      ),
    );
    expect(s.phase).toBe('Succeeded');
    expect(cond(s, 'Initialized')).toEqual({
      type: 'Initialized',
      status: 'True',
      reason: 'PodCompleted',
    });
    expect(cond(s, 'Ready')).toEqual({ type: 'Ready', status: 'False', reason: 'PodCompleted' });
    expect(cond(s, 'ContainersReady')).toEqual({
      type: 'ContainersReady',
      status: 'False',
      reason: 'PodCompleted',
    });
  });
});

describe('applyReadiness', () => {
  it('a Failed pod: reason PodFailed, no message', () => {
    const p = pod({ restartPolicy: 'Never' });
    const s = applyReadiness(
      p,
      generatePodStatus(p, runtime(ctr('run1', 'CONTAINER_EXITED', 1)), {
        runtimeName: 'containerd',
      }),
    );
    expect(cond(s, 'Ready')).toEqual({ type: 'Ready', status: 'False', reason: 'PodFailed' });
  });

  it('unready sidecars are named first, then app containers', () => {
    const p = pod({
      initContainers: [{ name: 'side', image: 'busybox:1', restartPolicy: 'Always' }],
      containers: [{ name: 'a' }, { name: 'b' }],
    });
    const s = applyReadiness(p, {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'False' }],
      initContainerStatuses: [
        { name: 'side', image: '', imageID: '', ready: false, restartCount: 0 },
      ],
      containerStatuses: [
        { name: 'a', image: '', imageID: '', ready: true, restartCount: 0 },
        { name: 'b', image: '', imageID: '', ready: false, restartCount: 0 },
      ],
    });
    expect(cond(s, 'Ready')).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [side b]',
    });
  });
});

describe('readiness gates (pods.go "should support pod readiness gates")', () => {
  const gated = (conditions: k8s.PodCondition[]): k8s.Pod => ({
    ...pod({
      readinessGates: [
        { conditionType: 'k8s.io/test-condition1' },
        { conditionType: 'k8s.io/test-condition2' },
      ],
    }),
    status: { conditions },
  });
  const running = (p: k8s.Pod, ready: boolean): k8s.PodStatus =>
    applyReadiness(p, {
      phase: 'Running',
      conditions: [
        { type: 'ContainersReady', status: 'False' },
        { type: 'Ready', status: 'False' },
      ],
      containerStatuses: [{ name: 'run1', image: '', imageID: '', ready, restartCount: 0 }],
    });

  it('containers ready but gates missing or not True: Ready False with every gate named, ContainersReady True', () => {
    const none = running(gated([]), true);
    expect(cond(none, 'ContainersReady')).toEqual({ type: 'ContainersReady', status: 'True' });
    expect(cond(none, 'Ready')).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message:
        'corresponding condition of pod readiness gate "k8s.io/test-condition1" does not exist., corresponding condition of pod readiness gate "k8s.io/test-condition2" does not exist.',
    });
    const one = running(
      gated([
        { type: 'k8s.io/test-condition1', status: 'True' },
        { type: 'k8s.io/test-condition2', status: 'False' },
      ]),
      true,
    );
    expect(cond(one, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message: 'the status of pod readiness gate "k8s.io/test-condition2" is not "True", but False',
    });
  });

  it('every gate True: Ready True; containers not ready: ContainersNotReady whatever the gates', () => {
    const all = gated([
      { type: 'k8s.io/test-condition1', status: 'True' },
      { type: 'k8s.io/test-condition2', status: 'True' },
    ]);
    expect(cond(running(all, true), 'Ready')).toEqual({ type: 'Ready', status: 'True' });
    expect(cond(running(all, false), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
    });
  });

  it('needToReconcilePodReadiness: only when the published Ready no longer matches the gates', () => {
    const published = (
      ready: 'True' | 'False',
      message: string | undefined,
      gates: k8s.PodCondition[],
    ) =>
      gated([
        { type: 'ContainersReady', status: 'True' },
        { type: 'Ready', status: ready, ...(message ? { message } : {}) },
        ...gates,
      ]);
    const notExist =
      'corresponding condition of pod readiness gate "k8s.io/test-condition1" does not exist., corresponding condition of pod readiness gate "k8s.io/test-condition2" does not exist.';
    expect(needToReconcilePodReadiness(published('False', notExist, []))).toBe(false);
    const oneTrue = [{ type: 'k8s.io/test-condition1', status: 'True' as const }];
    expect(needToReconcilePodReadiness(published('False', notExist, oneTrue))).toBe(true);
    const bothTrue = [...oneTrue, { type: 'k8s.io/test-condition2', status: 'True' as const }];
    expect(needToReconcilePodReadiness(published('False', 'x', bothTrue))).toBe(true);
    expect(needToReconcilePodReadiness(published('True', undefined, bothTrue))).toBe(false);
    // No gates, or containers not ready: nothing to reconcile.
    expect(needToReconcilePodReadiness(pod({}))).toBe(false);
  });
});

describe('withObservedGeneration (PodObservedGenerationTracking)', () => {
  it("stamps the pod's generation on the status and on the agent's conditions only", () => {
    const p: k8s.Pod = {
      ...pod({}),
      metadata: { name: 'p', namespace: 'ns', uid: 'u', generation: 3 },
    };
    const s = withObservedGeneration(p, {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'DisruptionTarget', status: 'True' },
        { type: 'example.com/gate', status: 'True' },
      ],
    });
    expect(s.observedGeneration).toBe(3);
    expect(s.conditions?.map((c) => [c.type, c.observedGeneration])).toEqual([
      ['Ready', 3],
      ['DisruptionTarget', 3],
      ['example.com/gate', undefined],
    ]);
    // A static pod (no generation) is left as it is.
    const plain = { phase: 'Running' as const, conditions: [] };
    expect(withObservedGeneration(pod({}), plain)).toBe(plain);
  });
});
