import {
  InvalidArgumentError,
  isNodeAgentError,
  type ContainerRestartRequest,
  type EventType,
  type k8s,
  type ProbeResultUpdate,
  type ProbeType,
} from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { createProbeManager } from './manager.js';
import type { ResolvedProbe } from './probe-spec.js';
import type { ProbeOutcome, ProbeRunner, ProbeTarget } from './probers/types.js';

const uid = 'uid-1';
const cid = 'containerd://c1';

/** A runner whose outcomes the test scripts; records each attempt. */
class ScriptedRunner implements ProbeRunner {
  calls: { kind: string; containerId: string; at: number }[] = [];
  next: (probe: ResolvedProbe, target: ProbeTarget) => Promise<ProbeOutcome> = async () => ({
    result: 'Success',
    output: '',
  });
  constructor(private readonly clock: FakeClock) {}
  run(probe: ResolvedProbe, target: ProbeTarget): Promise<ProbeOutcome> {
    this.calls.push({
      kind: probe.handler.kind,
      containerId: target.containerId,
      at: this.clock.monotonicNow(),
    });
    return this.next(probe, target);
  }
}

interface RecordedEvent {
  object: k8s.ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

function pod(container: Partial<k8s.Container>, spec: Partial<k8s.PodSpec> = {}): k8s.Pod {
  return {
    metadata: { name: 'web-0', namespace: 'default', uid },
    spec: { containers: [{ name: 'web', image: 'busybox', ...container }], ...spec },
  };
}

function running(clock: FakeClock, containerId = cid, startedAgoSeconds = 0): k8s.PodStatus {
  return {
    phase: 'Running',
    podIP: '127.0.0.1',
    containerStatuses: [
      {
        name: 'web',
        ready: false,
        restartCount: 0,
        image: 'busybox',
        imageID: '',
        containerID: containerId,
        state: {
          running: { startedAt: new Date(clock.now() - startedAgoSeconds * 1000).toISOString() },
        },
      },
    ],
  };
}

function setup(options: { randomValue?: number; warmMs?: number } = {}) {
  const clock = new FakeClock();
  const runner = new ScriptedRunner(clock);
  const metrics = new InMemoryMetrics();
  const events: RecordedEvent[] = [];
  const restarts: ContainerRestartRequest[] = [];
  const updates: ProbeResultUpdate[] = [];
  const manager = createProbeManager({
    runner,
    clock,
    metrics,
    random: { float: () => options.randomValue ?? 0 },
    recorder: {
      event: (object, type, reason, message) => events.push({ object, type, reason, message }),
    },
  });
  manager.onRestartRequest((r) => restarts.push(r));
  manager.subscribe((u) => updates.push(u));
  return { clock, runner, metrics, events, restarts, updates, manager };
}

async function warmUp(clock: FakeClock, ms = 3_600_000): Promise<void> {
  // Let the manager be "old" so that workers start without jitter.
  await clock.advance(ms);
}

const exec = { exec: { command: ['true'] } };

describe('worker start and initial results', () => {
  it('publishes the initial result per kind when the container appears', async () => {
    const { clock, manager } = setup();
    await warmUp(clock);
    manager.addPod(
      pod({
        readinessProbe: { ...exec, initialDelaySeconds: 100 },
        livenessProbe: { ...exec, initialDelaySeconds: 100 },
        startupProbe: { ...exec, initialDelaySeconds: 100 },
      }),
    );
    expect(manager.workerCount()).toBe(3);
    manager.updatePodStatus(pod({}), running(clock));
    await clock.advance(10_000);
    expect(manager.results('Readiness').get(cid)).toBe('Failure');
    expect(manager.results('Liveness').get(cid)).toBe('Success');
    expect(manager.results('Startup').get(cid)).toBe('Unknown');
    await manager.stop();
  });

  it('waits for a pod status and a container id before probing', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({ livenessProbe: exec });
    manager.addPod(p);
    await clock.advance(30_000);
    expect(runner.calls).toHaveLength(0);
    const status = running(clock);
    status.containerStatuses![0]!.containerID = '';
    manager.updatePodStatus(p, status);
    await clock.advance(30_000);
    expect(runner.calls).toHaveLength(0);
    manager.updatePodStatus(p, running(clock));
    await clock.advance(10_000);
    expect(runner.calls).toHaveLength(1);
    await manager.stop();
  });

  it('applies the defaults: period 10 s, failure threshold 3, success threshold 1', async () => {
    const { clock, manager, runner, restarts } = setup();
    await warmUp(clock);
    const p = pod({ livenessProbe: exec });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.flush();
    expect(runner.calls.map((c) => c.at - runner.calls[0]!.at)).toEqual([0]);
    runner.next = async () => ({ result: 'Failure', output: 'boom' });
    await clock.advance(10_000);
    await clock.advance(10_000);
    expect(restarts).toHaveLength(0);
    await clock.advance(10_000);
    expect(runner.calls.map((c) => c.at - runner.calls[0]!.at)).toEqual([
      0, 10_000, 20_000, 30_000,
    ]);
    expect(restarts).toHaveLength(1);
    await manager.stop();
  });
});

describe('initialDelaySeconds', () => {
  it('does not probe before initialDelaySeconds after the container started', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { ...exec, initialDelaySeconds: 15, periodSeconds: 5 } });
    manager.addPod(p);
    manager.updatePodStatus(p, running(clock, cid, 3)); // started 3 s ago
    await clock.advance(11_000); // 14 s since start: ticks at 0, 5, 10 → 3, 8, 13 s
    expect(runner.calls).toHaveLength(0);
    await clock.advance(1_000); // tick at 15 → 18 s since start
    expect(runner.calls).toHaveLength(0);
    await clock.advance(4_000);
    expect(runner.calls).toHaveLength(1);
    await manager.stop();
  });
});

describe('startup gates liveness and readiness', () => {
  it('runs only startup until it succeeds, then stops startup and runs the others', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const kinds = (): string[] => runner.calls.map((c) => c.kind);
    const p = pod({
      startupProbe: { exec: { command: ['startup'] }, periodSeconds: 1, failureThreshold: 30 },
      livenessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 },
      readinessProbe: { httpGet: { port: 80 }, periodSeconds: 1 },
    });
    manager.addPod(p);
    runner.next = async (probe) =>
      probe.handler.kind === 'exec'
        ? { result: 'Failure', output: 'not yet' }
        : { result: 'Success', output: '' };
    let status = manager.updatePodStatus(p, running(clock));
    expect(status.containerStatuses![0]).toMatchObject({ started: false, ready: false });
    await clock.advance(3_000);
    expect(new Set(kinds())).toEqual(new Set(['exec']));
    runner.next = async () => ({ result: 'Success', output: '' });
    await clock.advance(1_000);
    expect(manager.results('Startup').get(cid)).toBe('Success');
    runner.calls = [];
    await clock.advance(3_000);
    expect(kinds().filter((k) => k === 'exec')).toEqual([]);
    expect(kinds().filter((k) => k === 'tcpSocket').length).toBe(3);
    expect(kinds().filter((k) => k === 'httpGet').length).toBe(3);
    status = manager.updatePodStatus(p, running(clock));
    expect(status.containerStatuses![0]).toMatchObject({ started: true, ready: true });
    await manager.stop();
  });

  it('a startup failure at the threshold requests a restart with the probe grace period', async () => {
    const { clock, manager, runner, restarts } = setup();
    await warmUp(clock);
    const p = pod(
      {
        startupProbe: {
          ...exec,
          periodSeconds: 1,
          failureThreshold: 2,
          terminationGracePeriodSeconds: 5,
        },
      },
      { terminationGracePeriodSeconds: 60 },
    );
    runner.next = async () => ({ result: 'Failure', output: '' });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.advance(1_000);
    expect(restarts).toEqual([
      {
        probeType: 'Startup',
        podUid: uid,
        podName: 'web-0',
        namespace: 'default',
        containerName: 'web',
        containerId: cid,
        message: 'Container web failed startup probe, will be restarted',
        gracePeriodSeconds: 5,
      },
    ]);
    expect(manager.results('Startup').get(cid)).toBe('Failure');
    await manager.stop();
  });
});

describe('liveness failure, hold and new container', () => {
  it('holds after the failure threshold until a new container id appears', async () => {
    const { clock, manager, runner, restarts, updates, events } = setup();
    await warmUp(clock);
    const p = pod(
      { livenessProbe: { httpGet: { port: 8080 }, periodSeconds: 1, failureThreshold: 2 } },
      { terminationGracePeriodSeconds: 45 },
    );
    runner.next = async () => ({
      result: 'Failure',
      output: 'HTTP probe failed with statuscode: 500',
    });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.advance(1_000);
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({
      probeType: 'Liveness',
      message: 'Container web failed liveness probe, will be restarted',
      gracePeriodSeconds: 45,
    });
    expect(events[0]).toEqual({
      object: {
        kind: 'Pod',
        apiVersion: 'v1',
        namespace: 'default',
        name: 'web-0',
        uid,
        fieldPath: 'spec.containers{web}',
      },
      type: 'Warning',
      reason: 'Unhealthy',
      message: 'Liveness probe failed: HTTP probe failed with statuscode: 500',
    });
    const before = runner.calls.length;
    await clock.advance(10_000);
    expect(runner.calls.length).toBe(before); // on hold
    expect(restarts).toHaveLength(1);
    // The container restarts with a new id: initial Success, probing resumes.
    runner.next = async () => ({ result: 'Success', output: '' });
    manager.updatePodStatus(p, running(clock, 'containerd://c2'));
    await clock.advance(1_000);
    expect(runner.calls.length).toBe(before + 1);
    expect(manager.results('Liveness').get(cid)).toBeUndefined();
    expect(manager.results('Liveness').get('containerd://c2')).toBe('Success');
    expect(
      updates.filter((u) => u.probeType === 'Liveness').map((u) => [u.containerId, u.result]),
    ).toEqual([
      [cid, 'Success'],
      [cid, 'Failure'],
      ['containerd://c2', 'Success'],
    ]);
    await manager.stop();
  });

  it('uses the pod grace period (default 30) when the probe has none', async () => {
    const { clock, manager, runner, restarts } = setup();
    await warmUp(clock);
    const p = pod({ livenessProbe: { ...exec, periodSeconds: 1, failureThreshold: 1 } });
    runner.next = async () => ({ result: 'Failure', output: '' });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.flush();
    expect(restarts[0]?.gracePeriodSeconds).toBe(30);
    await manager.stop();
  });
});

describe('thresholds', () => {
  it('readiness needs successThreshold successes in a row and failureThreshold failures', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({
      readinessProbe: { ...exec, periodSeconds: 1, successThreshold: 2, failureThreshold: 2 },
    });
    manager.addPod(p);
    const script: ProbeOutcome['result'][] = [
      'Success',
      'Failure',
      'Success',
      'Success',
      'Failure',
      'Failure',
    ];
    runner.next = async () => ({ result: script.shift() ?? 'Success', output: '' });
    manager.updatePodStatus(p, running(clock));
    const seen: (string | undefined)[] = [];
    await clock.flush();
    seen.push(manager.results('Readiness').get(cid));
    for (let i = 0; i < 5; i++) {
      await clock.advance(1_000);
      seen.push(manager.results('Readiness').get(cid));
    }
    expect(seen).toEqual(['Failure', 'Failure', 'Failure', 'Success', 'Success', 'Failure']);
    await manager.stop();
  });
});

describe('errors', () => {
  it('retries an erroring probe 3 times, records one event, and never counts it as a failure', async () => {
    const { clock, manager, runner, events, restarts, metrics } = setup();
    await warmUp(clock);
    const p = pod({ livenessProbe: { ...exec, periodSeconds: 1, failureThreshold: 1 } });
    runner.next = async () => {
      throw new Error('rpc error: code = Unavailable desc = runtime down');
    };
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.advance(4_000);
    expect(runner.calls).toHaveLength(15); // 5 rounds × 3 attempts
    expect(restarts).toEqual([]);
    expect(manager.results('Liveness').get(cid)).toBe('Success');
    expect(events).toHaveLength(5);
    expect(events[0]?.message).toBe(
      'Liveness probe errored and resulted in unknown state: rpc error: code = Unavailable desc = runtime down',
    );
    expect(
      metrics.value('prober_probe_total', {
        probe_type: 'Liveness',
        result: 'failed',
        container: 'web',
        pod: 'web-0',
        namespace: 'default',
        pod_uid: uid,
      }),
    ).toBe(0);
    // One attempt erroring and the next one succeeding is a success.
    let n = 0;
    runner.next = async () => {
      if (n++ % 2 === 0) throw new Error('flaky');
      return { result: 'Failure', output: 'exit 1' };
    };
    await clock.advance(1_000);
    expect(restarts).toHaveLength(1);
    await manager.stop();
  });
});

describe('events and warnings', () => {
  it('records ProbeWarning for a warning outcome and counts it as success', async () => {
    const { clock, manager, runner, events } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { httpGet: { port: 80 }, periodSeconds: 1 } });
    manager.addPod(p);
    runner.next = async () => ({
      result: 'Warning',
      output: 'Probe terminated redirects, Response body: moved',
    });
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    expect(manager.results('Readiness').get(cid)).toBe('Success');
    expect(events.map((e) => [e.type, e.reason, e.message])).toEqual([
      [
        'Warning',
        'ProbeWarning',
        'Readiness probe warning: Probe terminated redirects, Response body: moved',
      ],
    ]);
    await manager.stop();
  });

  it('an Unknown outcome is a failure without an event', async () => {
    const { clock, manager, runner, events } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { ...exec, periodSeconds: 1, failureThreshold: 1 } });
    manager.addPod(p);
    runner.next = async () => ({ result: 'Unknown', output: '' });
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    expect(manager.results('Readiness').get(cid)).toBe('Failure');
    expect(events).toEqual([]);
    await manager.stop();
  });
});

describe('metrics', () => {
  it('counts prober_probe_total by type and result with the kubelet labels', async () => {
    const { clock, manager, runner, metrics } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { ...exec, periodSeconds: 1 } });
    manager.addPod(p);
    const script: ProbeOutcome['result'][] = ['Success', 'Failure', 'Success'];
    runner.next = async () => ({ result: script.shift() ?? 'Success', output: '' });
    manager.updatePodStatus(p, running(clock));
    await clock.advance(2_000);
    const labels = {
      probe_type: 'Readiness',
      container: 'web',
      pod: 'web-0',
      namespace: 'default',
      pod_uid: uid,
    };
    expect(metrics.value('prober_probe_total', { ...labels, result: 'successful' })).toBe(2);
    expect(metrics.value('prober_probe_total', { ...labels, result: 'failed' })).toBe(1);
    expect(
      metrics.observations('prober_probe_duration_seconds', {
        probe_type: 'Readiness',
        container: 'web',
        pod: 'web-0',
        namespace: 'default',
      }),
    ).toHaveLength(2);
    await manager.stop();
  });
});

describe('pod deletion, termination and removal', () => {
  it('a pod being deleted sets liveness and startup to success and stops them; readiness goes on', async () => {
    const { clock, manager, runner, updates } = setup();
    await warmUp(clock);
    const p = pod({
      livenessProbe: { ...exec, periodSeconds: 1 },
      readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1 },
    });
    manager.addPod(p);
    runner.next = async (probe) =>
      probe.handler.kind === 'exec'
        ? { result: 'Failure', output: '' }
        : { result: 'Success', output: '' };
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    manager.updatePod({
      ...p,
      metadata: { ...p.metadata, deletionTimestamp: new Date(clock.now()).toISOString() },
    });
    await clock.advance(1_000);
    expect(updates.filter((u) => u.probeType === 'Liveness').map((u) => u.result)).toEqual([
      'Success',
    ]);
    expect(manager.getWorker(uid, 'web', 'Liveness')).toBeUndefined();
    expect(manager.results('Liveness').get(cid)).toBeUndefined(); // removed when the worker exits
    expect(manager.getWorker(uid, 'web', 'Readiness')).toBeDefined();
    const readinessCalls = runner.calls.filter((c) => c.kind === 'tcpSocket').length;
    await clock.advance(2_000);
    expect(runner.calls.filter((c) => c.kind === 'tcpSocket').length).toBe(readinessCalls + 2);
    await manager.stop();
  });

  it('stopLivenessAndStartup keeps readiness; removePod stops all and leaves no timers', async () => {
    const { clock, manager } = setup();
    await warmUp(clock);
    const p = pod({
      livenessProbe: exec,
      readinessProbe: exec,
      startupProbe: exec,
    });
    manager.addPod(p);
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    manager.stopLivenessAndStartup(p);
    await clock.flush();
    expect(manager.workerCount()).toBe(1);
    manager.removePod(p);
    await clock.flush();
    expect(manager.workerCount()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    expect(manager.results('Readiness').get(cid)).toBeUndefined();
  });

  it('cleanupPods stops the workers of pods no longer desired', async () => {
    const { clock, manager } = setup();
    await warmUp(clock);
    manager.addPod(pod({ livenessProbe: exec }));
    manager.addPod({
      ...pod({ livenessProbe: exec }),
      metadata: { name: 'b', namespace: 'default', uid: 'uid-2' },
    });
    manager.cleanupPods(new Set(['uid-2']));
    await clock.flush();
    expect(manager.workerCount()).toBe(1);
    expect(manager.getWorker('uid-2', 'web', 'Liveness')).toBeDefined();
    await manager.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stops the worker when the pod has terminated (Succeeded/Failed)', async () => {
    const { clock, manager } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { ...exec, periodSeconds: 1 } });
    manager.addPod(p);
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    manager.updatePodStatus(p, { ...running(clock), phase: 'Succeeded' });
    await clock.advance(1_000);
    expect(manager.workerCount()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a non-running container is Failure; a terminated one that will not restart stops the worker', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({ livenessProbe: { ...exec, periodSeconds: 1 } }, { restartPolicy: 'Never' });
    manager.addPod(p);
    const status = running(clock);
    status.containerStatuses![0]!.state = { waiting: { reason: 'ContainerCreating' } };
    manager.updatePodStatus(p, status);
    await clock.advance(2_000);
    expect(manager.results('Liveness').get(cid)).toBe('Failure');
    expect(manager.workerCount()).toBe(1);
    status.containerStatuses![0]!.state = { terminated: { exitCode: 1 } };
    manager.updatePodStatus(p, status);
    await clock.advance(1_000);
    expect(manager.workerCount()).toBe(0);
    expect(runner.calls).toEqual([]);
  });

  it('stop() aborts a probe in flight and throws its outcome away', async () => {
    const { clock, manager, runner, events } = setup();
    await warmUp(clock);
    const p = pod({ livenessProbe: { ...exec, periodSeconds: 1, failureThreshold: 1 } });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    runner.next = (_probe, target) =>
      new Promise((_resolve, reject) =>
        target.signal.addEventListener('abort', () => reject(target.signal.reason as Error)),
      );
    await clock.flush();
    expect(runner.calls).toHaveLength(1);
    await manager.stop();
    expect(events).toEqual([]);
    expect(manager.workerCount()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('timing', () => {
  it('jitters the first probe by up to one period when the agent just started', async () => {
    const { clock, manager, runner } = setup({ randomValue: 0.5 });
    const p = pod({ livenessProbe: { ...exec, periodSeconds: 10 } });
    manager.addPod(p);
    manager.updatePodStatus(p, running(clock));
    await clock.advance(4_999);
    expect(runner.calls).toHaveLength(0);
    await clock.advance(1);
    expect(runner.calls).toHaveLength(1);
    await clock.advance(10_000);
    expect(runner.calls.map((c) => c.at)).toEqual([5_000, 15_000]);
    await manager.stop();
  });

  it('does not jitter when the agent has run longer than the period', async () => {
    const { clock, manager, runner } = setup({ randomValue: 0.9 });
    await clock.advance(10_001);
    const p = pod({ livenessProbe: { ...exec, periodSeconds: 10 } });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.flush();
    expect(runner.calls.map((c) => c.at)).toEqual([10_001]);
    await manager.stop();
  });

  it('never overlaps probes: a slow probe keeps at most one pending tick', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { ...exec, periodSeconds: 1, timeoutSeconds: 10 } });
    let inFlight = 0;
    let maxInFlight = 0;
    runner.next = async (_probe, target) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await clock.sleep(3_500, target.signal);
      inFlight--;
      return { result: 'Success', output: '' };
    };
    const t0 = clock.monotonicNow();
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.advance(8_000);
    expect(maxInFlight).toBe(1);
    // 0 → 3.5 (tick pending) → 3.5 → 7.0 (tick pending) → 7.0 …
    expect(runner.calls.map((c) => c.at - t0)).toEqual([0, 3_500, 7_000]);
    await manager.stop();
  });
});

describe('updatePodStatus', () => {
  it('marks containers without probes started and ready once running', () => {
    const { clock, manager } = setup();
    const p = pod({});
    const out = manager.updatePodStatus(p, running(clock));
    expect(out.containerStatuses![0]).toMatchObject({ started: true, ready: true });
  });

  it('triggers a readiness probe at once when the container has no ready result', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { ...exec, periodSeconds: 60 } });
    manager.addPod(p);
    runner.next = async () => ({ result: 'Failure', output: '' });
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    expect(runner.calls).toHaveLength(1);
    runner.next = async () => ({ result: 'Success', output: '' });
    const out = manager.updatePodStatus(p, running(clock)); // not ready: triggers a run
    expect(out.containerStatuses![0]!.ready).toBe(false);
    await clock.flush();
    expect(runner.calls).toHaveLength(2);
    expect(manager.updatePodStatus(p, running(clock)).containerStatuses![0]!.ready).toBe(true);
    await manager.stop();
  });

  it('init containers are ready when they exited 0; sidecars follow their probes', () => {
    const { clock, manager } = setup();
    const p: k8s.Pod = {
      metadata: { name: 'x', namespace: 'default', uid },
      spec: {
        initContainers: [{ name: 'init' }, { name: 'sidecar', restartPolicy: 'Always' }],
        containers: [{ name: 'web' }],
      },
    };
    const base = running(clock);
    const out = manager.updatePodStatus(p, {
      ...base,
      initContainerStatuses: [
        {
          name: 'init',
          ready: false,
          restartCount: 0,
          image: '',
          imageID: '',
          state: { terminated: { exitCode: 0 } },
        },
        { ...base.containerStatuses![0]!, name: 'sidecar', containerID: 'containerd://s' },
      ],
    });
    expect(out.initContainerStatuses!.map((c) => [c.name, c.ready])).toEqual([
      ['init', true],
      ['sidecar', true],
    ]);
  });
});

describe('subscriptions', () => {
  it('filters updates by container and kind', async () => {
    const { clock, manager, runner } = setup();
    await warmUp(clock);
    const p = pod({
      livenessProbe: { ...exec, periodSeconds: 1 },
      readinessProbe: { ...exec, periodSeconds: 1 },
    });
    const got: ProbeResultUpdate[] = [];
    const off = manager.subscribe((u) => got.push(u), {
      probeType: 'Readiness',
      containerName: 'web',
    });
    manager.addPod(p);
    runner.next = async () => ({ result: 'Success', output: '' });
    manager.updatePodStatus(p, running(clock));
    await clock.flush();
    expect(got.map((u) => [u.probeType, u.result])).toEqual([
      ['Readiness', 'Failure'],
      ['Readiness', 'Success'],
    ]);
    off();
    await manager.stop();
  });
});

describe('bad input', () => {
  /** The kubelet's runProbe error, with the pod in `format.Pod` form. */
  const missingHandler = /^missing probe handler for web-0_default\(uid-1\):web$/;
  /** [name, container fields, the invalid probe's type, its effective period (s), reason]. */
  const cases: [string, Partial<k8s.Container>, ProbeType, number, RegExp][] = [
    ['no handler', { livenessProbe: { periodSeconds: 5 } }, 'Liveness', 5, missingHandler],
    [
      'no handler (readiness)',
      { readinessProbe: { periodSeconds: 1 } },
      'Readiness',
      1,
      missingHandler,
    ],
    [
      'two handlers',
      { readinessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } },
      'Readiness',
      10,
      /^spec\.containers\[0\]\.readinessProbe\.tcpSocket: Forbidden: may not specify more than 1 handler type/,
    ],
    [
      'port 0',
      { livenessProbe: { tcpSocket: { port: 0 } } },
      'Liveness',
      10,
      /tcpSocket.port: Invalid value: 0/,
    ],
    [
      'port 70000',
      { livenessProbe: { httpGet: { port: 70000 } } },
      'Liveness',
      10,
      /httpGet.port: Invalid value: 70000/,
    ],
    [
      'unknown named port',
      {
        ports: [{ name: 'http', containerPort: 80 }],
        readinessProbe: { httpGet: { port: 'metrics' }, periodSeconds: 2 },
      },
      'Readiness',
      2,
      /no port named "metrics"/,
    ],
    [
      'grpc with a name',
      { livenessProbe: { grpc: { port: 'x' as unknown as number } } },
      'Liveness',
      10,
      /grpc.port: Invalid value/,
    ],
    [
      'zero period',
      { livenessProbe: { ...exec, periodSeconds: 0 } },
      'Liveness',
      10,
      /periodSeconds: Invalid value: 0: must be greater than 0/,
    ],
    [
      'negative period',
      { readinessProbe: { ...exec, periodSeconds: -5 } },
      'Readiness',
      10,
      /periodSeconds: Invalid value: -5/,
    ],
    [
      'zero timeout',
      { livenessProbe: { ...exec, timeoutSeconds: 0, periodSeconds: 3 } },
      'Liveness',
      3,
      /timeoutSeconds: Invalid value: 0/,
    ],
    [
      'negative delay',
      { livenessProbe: { ...exec, initialDelaySeconds: -1 } },
      'Liveness',
      10,
      /initialDelaySeconds/,
    ],
    [
      'liveness successThreshold',
      { livenessProbe: { ...exec, successThreshold: 2, failureThreshold: 1 } },
      'Liveness',
      10,
      /successThreshold: Invalid value: 2: must be 1/,
    ],
    [
      'startup successThreshold',
      { startupProbe: { ...exec, successThreshold: 3 } },
      'Startup',
      10,
      /must be 1/,
    ],
    [
      'empty command',
      { livenessProbe: { exec: { command: [] } } },
      'Liveness',
      10,
      /exec.command: Required value/,
    ],
  ];
  /**
   * A valid exec probe (command `companion`, period 1 s) of another kind next to the
   * invalid one: liveness (failing, so it asks for a restart) beside an invalid
   * readiness or startup probe, readiness (succeeding) beside an invalid liveness probe.
   */
  const companion = (type: ProbeType): Partial<k8s.Container> =>
    type === 'Liveness'
      ? { readinessProbe: { exec: { command: ['companion'] }, periodSeconds: 1 } }
      : {
          livenessProbe: {
            exec: { command: ['companion'] },
            periodSeconds: 1,
            failureThreshold: 1,
          },
        };

  for (const [name, container, type, period, reason] of cases) {
    it(`runs a worker for ${name} that errors every period without a result`, async () => {
      const { clock, manager, runner, events, restarts, updates, metrics } = setup();
      await warmUp(clock);
      const p = pod({ ...container, ...companion(type) });
      runner.next = async () =>
        type === 'Liveness'
          ? { result: 'Success', output: '' }
          : { result: 'Failure', output: 'exit 1' };
      manager.updatePodStatus(p, running(clock));
      expect(() => manager.addPod(p)).not.toThrow();
      expect(manager.workerCount()).toBe(2);
      const worker = manager.getWorker(uid, 'web', type);
      expect(worker?.spec.handler.kind).toBe('invalid');
      expect(worker?.spec.periodSeconds).toBe(period);

      await clock.advance(3 * period * 1000);

      // The first round at once, then one per period: exactly one event each.
      const prefix = `${type} probe errored and resulted in unknown state: `;
      const own = events.filter((e) => e.message.startsWith(`${type} probe`));
      expect(own).toHaveLength(4);
      for (const e of own) {
        expect(e.type).toBe('Warning');
        expect(e.reason).toBe('Unhealthy');
        expect(e.object.fieldPath).toBe('spec.containers{web}');
        expect(e.message.startsWith(prefix)).toBe(true);
        expect(e.message.slice(prefix.length)).toMatch(reason);
      }
      // The invalid probe never reaches the runner and publishes nothing beyond the
      // initial result.
      expect(runner.calls.filter((c) => c.kind === 'invalid')).toEqual([]);
      expect(updates.filter((u) => u.probeType === type).map((u) => u.result)).toEqual(
        type === 'Readiness' ? ['Failure'] : type === 'Liveness' ? ['Success'] : ['Unknown'],
      );
      expect(
        metrics.value('prober_probe_total', {
          probe_type: type,
          result: 'failed',
          container: 'web',
          pod: 'web-0',
          namespace: 'default',
          pod_uid: uid,
        }),
      ).toBe(0);

      const status = manager.updatePodStatus(p, running(clock)).containerStatuses![0]!;
      switch (type) {
        case 'Readiness':
          // Never ready; the valid liveness probe still runs and asks for its restart.
          expect(manager.results('Readiness').get(cid)).toBe('Failure');
          expect(status).toMatchObject({ started: true, ready: false });
          expect(runner.calls.filter((c) => c.kind === 'exec').length).toBeGreaterThan(0);
          expect(restarts.map((r) => r.probeType)).toEqual(['Liveness']);
          break;
        case 'Liveness':
          // Never restarts; the valid readiness probe still makes the container ready.
          expect(manager.results('Liveness').get(cid)).toBe('Success');
          expect(restarts).toEqual([]);
          expect(runner.calls.filter((c) => c.kind === 'exec')).toHaveLength(3 * period + 1);
          expect(status).toMatchObject({ started: true, ready: true });
          break;
        case 'Startup':
          // Never started, so liveness and readiness wait for good (as in the kubelet).
          expect(manager.results('Startup').get(cid)).toBe('Unknown');
          expect(status).toMatchObject({ started: false, ready: false });
          expect(runner.calls).toEqual([]);
          expect(restarts).toEqual([]);
          break;
      }
      await manager.stop();
      expect(manager.workerCount()).toBe(0);
      expect(clock.pendingTimers()).toBe(0);
    });
  }

  it('names the pod in the kubelet form when the handler is missing', async () => {
    const { clock, manager, events } = setup();
    await warmUp(clock);
    const p = pod({ readinessProbe: { periodSeconds: 1 } });
    manager.updatePodStatus(p, running(clock));
    manager.addPod(p);
    await clock.advance(0);
    expect(events.map((e) => [e.type, e.reason, e.message])).toEqual([
      [
        'Warning',
        'Unhealthy',
        'Readiness probe errored and resulted in unknown state: missing probe handler for web-0_default(uid-1):web',
      ],
    ]);
    // Adding the pod again (every pod sync does) keeps the one worker.
    manager.addPod(p);
    expect(manager.workerCount()).toBe(1);
    await manager.stop();
  });

  it('accepts named ports that exist, and numeric strings', () => {
    const { manager } = setup();
    manager.addPod(
      pod({
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { port: 'http' } },
        livenessProbe: { tcpSocket: { port: '8080' } },
      }),
    );
    expect(manager.workerCount()).toBe(2);
    void manager.stop();
  });

  it('does not crash on garbage', () => {
    const { manager } = setup();
    expect(() => manager.addPod({} as k8s.Pod)).toThrow(InvalidArgumentError);
    let caught: unknown;
    try {
      manager.addPod({ metadata: { uid }, spec: {} } as k8s.Pod);
    } catch (err) {
      caught = err;
    }
    expect(isNodeAgentError(caught, 'InvalidArgument')).toBe(true);
    expect((caught as Error).message).toMatch(/spec.containers: Required value/);
    expect(manager.workerCount()).toBe(0);
    expect(() =>
      manager.addPod(pod({ livenessProbe: null as unknown as k8s.Probe })),
    ).not.toThrow();
  });
});
