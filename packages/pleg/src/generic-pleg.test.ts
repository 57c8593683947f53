import { UnavailableError, type PodLifecycleEvent } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { FakeRuntime } from '@nodeagent/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createPleg, type Pleg } from './create-pleg.js';
import { GenericPleg } from './generic-pleg.js';

let clock: FakeClock;
let runtime: FakeRuntime;
let pleg: Pleg | undefined;

afterEach(async () => {
  await pleg?.stop();
  pleg = undefined;
});

function setup(options: Partial<Parameters<typeof createPleg>[0]> = {}): {
  pleg: Pleg;
  events: PodLifecycleEvent[];
  metrics: InMemoryMetrics;
} {
  clock = new FakeClock();
  runtime = new FakeRuntime({ clock });
  const metrics = new InMemoryMetrics();
  const p = createPleg({ runtime, clock, metrics, ...options });
  pleg = p;
  const events: PodLifecycleEvent[] = [];
  p.subscribe((e) => {
    events.push(e);
  });
  return { pleg: p, events, metrics };
}

/** Lets the current relist finish; then moves time one relist period on, n times. */
async function relists(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await clock.advance(1_000);
}

const take = (events: PodLifecycleEvent[]): Array<[string, string]> =>
  events.splice(0).map((e) => [e.type, e.containerId]);

describe('GenericPleg relist transitions', () => {
  it('first relist: running containers and ready sandboxes → ContainerStarted; exited → ContainerDied', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1', name: 'web', namespace: 'ns' });
    const c1 = runtime.addContainer(sb, { name: 'app' });
    const c2 = runtime.addContainer(sb, { name: 'init', state: 'CONTAINER_EXITED', exitCode: 0 });
    pleg.start();
    await clock.flush();
    expect(take(events)).toEqual([
      ['ContainerStarted', c1],
      ['ContainerDied', c2],
      ['ContainerStarted', sb],
    ]);
    expect(events).toEqual([]);
    await relists(3);
    expect(events).toEqual([]);
  });

  it('running → exited → removed: ContainerDied, then ContainerRemoved only', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    const c = runtime.addContainer(sb, { name: 'app' });
    pleg.start();
    await clock.flush();
    take(events);
    runtime.exitContainer(c, 3, 'Error');
    const exitedAt = clock.now();
    await relists();
    expect(take(events)).toEqual([['ContainerDied', c]]);
    const cached = pleg.cache.get('uid-1').status.containerStatuses.find((s) => s.id === c);
    expect(cached).toMatchObject({ state: 'CONTAINER_EXITED', exitCode: 3, reason: 'Error' });
    expect(cached?.finishedAtMs).toBe(exitedAt);
    await runtime.removeContainer({ containerId: c });
    await relists();
    expect(take(events)).toEqual([['ContainerRemoved', c]]);
  });

  it('running → gone without being seen exited: ContainerDied then ContainerRemoved', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    const c = runtime.addContainer(sb);
    pleg.start();
    await clock.flush();
    take(events);
    runtime.deleteContainer(c);
    await relists();
    expect(take(events)).toEqual([
      ['ContainerDied', c],
      ['ContainerRemoved', c],
    ]);
  });

  it('created and unknown states emit nothing; created → running emits ContainerStarted', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    pleg.start();
    await clock.flush();
    take(events);
    const c = runtime.addContainer(sb, { state: 'CONTAINER_CREATED' });
    await relists();
    expect(events).toEqual([]);
    // ...but the pod's status was re-read (kubelet: ContainerChanged updates the cache).
    expect(pleg.cache.get('uid-1').status.containerStatuses.map((s) => s.state)).toEqual([
      'CONTAINER_CREATED',
    ]);
    runtime.setContainerState(c, 'CONTAINER_RUNNING');
    await relists();
    expect(take(events)).toEqual([['ContainerStarted', c]]);
    runtime.setContainerState(c, 'CONTAINER_UNKNOWN');
    await relists();
    expect(events).toEqual([]);
    runtime.exitContainer(c, 1);
    await relists();
    expect(take(events)).toEqual([['ContainerDied', c]]);
  });

  it('sandboxes are containers too: NOTREADY → ContainerDied, removal → ContainerRemoved, pod forgotten', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    const c = runtime.addContainer(sb);
    pleg.start();
    await clock.flush();
    take(events);
    await runtime.stopPodSandbox({ podSandboxId: sb });
    await relists();
    expect(take(events)).toEqual([
      ['ContainerDied', c],
      ['ContainerDied', sb],
    ]);
    expect(pleg.cache.get('uid-1').status.sandboxStatuses[0]?.state).toBe('SANDBOX_NOTREADY');
    await runtime.removePodSandbox({ podSandboxId: sb });
    await relists();
    expect(take(events)).toEqual([
      ['ContainerRemoved', c],
      ['ContainerRemoved', sb],
    ]);
    expect(pleg.cache.get('uid-1').timestampMs).toBe(0);
  });

  it('pod UID: label first, else sandbox metadata uid (containers follow their sandbox)', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'meta-uid', withoutUidLabel: true });
    const c = runtime.addContainer(sb, { labels: {} });
    const sb2 = runtime.addSandbox({
      uid: 'meta-2',
      labels: { 'io.kubernetes.pod.uid': 'label-2' },
    });
    pleg.start();
    await clock.flush();
    expect(events.map((e) => [e.podUid, e.containerId])).toEqual([
      ['meta-uid', c],
      ['meta-uid', sb],
      ['label-2', sb2],
    ]);
  });

  it('caches each pod with sandboxes, container details, restart data, labels and annotations', async () => {
    const { pleg } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1', name: 'web', namespace: 'ns', ip: '10.0.0.5' });
    runtime.addContainer(sb, {
      name: 'app',
      attempt: 2,
      image: 'registry.test/app:1',
      annotations: {
        'io.kubernetes.container.restartCount': '4',
        'io.kubernetes.container.hash': 'abc',
      },
    });
    pleg.start();
    await clock.flush();
    const { status, timestampMs, error } = pleg.cache.get('uid-1');
    expect(error).toBeUndefined();
    expect(timestampMs).toBe(clock.now());
    expect(status).toMatchObject({ id: 'uid-1', name: 'web', namespace: 'ns', ips: ['10.0.0.5'] });
    expect(status.sandboxStatuses.map((s) => s.id)).toEqual([sb]);
    expect(status.containerStatuses[0]).toMatchObject({
      name: 'app',
      state: 'CONTAINER_RUNNING',
      attempt: 2,
      restartCount: 4,
      hash: 'abc',
      image: 'registry.test/app:1',
      podSandboxId: sb,
      startedAtMs: clock.now(),
      labels: { 'io.kubernetes.pod.uid': 'uid-1' },
    });
    expect(status.containerStatuses[0]?.imageRef).toMatch(/^sha256:/);
  });

  it('a pod whose status cannot be read is re-inspected next relist, and its events come then', async () => {
    const { pleg, events } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    const c = runtime.addContainer(sb);
    runtime.failNext('containerStatus', new UnavailableError('boom'));
    pleg.start();
    await clock.flush();
    expect(events).toEqual([]);
    expect(pleg.cache.get('uid-1').error?.message).toBe('boom');
    await relists();
    expect(take(events)).toEqual([
      ['ContainerStarted', c],
      ['ContainerStarted', sb],
    ]);
    expect(pleg.cache.get('uid-1').error).toBeUndefined();
  });

  it('a container removed between list and status is simply left out', async () => {
    const { pleg } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    runtime.addContainer(sb);
    const orig = runtime.containerStatus;
    runtime.containerStatus = async (req, opts) => {
      runtime.deleteContainer(req?.containerId ?? '');
      return orig(req, opts);
    };
    pleg.start();
    await clock.flush();
    expect(pleg.cache.get('uid-1')).toMatchObject({ error: undefined });
    expect(pleg.cache.get('uid-1').status.containerStatuses).toEqual([]);
  });

  it('waiters of unchanged pods are released by the global timestamp after each relist', async () => {
    const { pleg } = setup();
    runtime.addContainer(runtime.addSandbox({ uid: 'uid-1' }));
    pleg.start();
    await clock.flush();
    const t = clock.now();
    let resolved = false;
    const waiting = pleg.cache.getNewerThan('uid-1', t).then((s) => {
      resolved = true;
      return s;
    });
    await clock.flush();
    expect(resolved).toBe(false);
    await clock.advance(1_000);
    await expect(waiting).resolves.toMatchObject({ status: { id: 'uid-1' } });
  });

  it('relists one period after the previous relist finished, and stop() leaves no timer', async () => {
    const { pleg } = setup({ relistPeriodMs: 500 });
    pleg.start();
    await clock.flush();
    expect(runtime.callCount('listPodSandbox')).toBe(1);
    await clock.advance(499);
    expect(runtime.callCount('listPodSandbox')).toBe(1);
    await clock.advance(1);
    expect(runtime.callCount('listPodSandbox')).toBe(2);
    expect(runtime.callCount('listContainers')).toBe(2);
    await pleg.stop();
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(5_000);
    expect(runtime.callCount('listPodSandbox')).toBe(2);
  });
});

describe('GenericPleg health', () => {
  it('is unhealthy until the first successful relist', async () => {
    const { pleg } = setup();
    expect(pleg.healthy()).toEqual({ ok: false, message: 'pleg has yet to be successful' });
    runtime.failNext('listContainers', new UnavailableError('down'));
    pleg.start();
    await clock.flush();
    expect(pleg.healthy()).toEqual({ ok: false, message: 'pleg has yet to be successful' });
    await relists();
    expect(pleg.healthy()).toEqual({ ok: true, message: '' });
  });

  it('turns unhealthy just past the threshold with the kubelet message, and recovers', async () => {
    const { pleg, metrics } = setup();
    pleg.start();
    await clock.flush();
    const firstRelistSeconds = Math.floor(clock.now() / 1000);
    runtime.failAlways('listPodSandbox', new UnavailableError('containerd is down'));
    await clock.advance(180_000);
    expect(pleg.healthy()).toEqual({ ok: true, message: '' }); // exactly at the threshold
    await clock.advance(1);
    expect(pleg.healthy()).toEqual({
      ok: false,
      message: 'pleg was last seen active 3m0.001s ago; threshold is 3m0s',
    });
    await clock.advance(4_999);
    expect(pleg.healthy().message).toBe('pleg was last seen active 3m5s ago; threshold is 3m0s');
    expect(metrics.value('kubelet_pleg_last_seen_seconds')).toBe(firstRelistSeconds);
    runtime.clearFaults();
    await relists();
    expect(pleg.healthy()).toEqual({ ok: true, message: '' });
    expect(metrics.value('kubelet_pleg_last_seen_seconds')).toBeGreaterThan(firstRelistSeconds);
  });

  it('a hanging relist does not block health, which turns unhealthy; stop() cancels it', async () => {
    const { pleg } = setup({ relistThresholdMs: 10_000 });
    pleg.start();
    await clock.flush();
    runtime.hang('listContainers');
    await clock.advance(1_000); // the second relist starts and hangs
    expect(runtime.callCount('listContainers')).toBe(2);
    await clock.advance(9_000);
    expect(pleg.healthy().ok).toBe(true);
    await clock.advance(1);
    expect(pleg.healthy()).toEqual({
      ok: false,
      message: 'pleg was last seen active 10.001s ago; threshold is 10s',
    });
    expect(runtime.callCount('listContainers')).toBe(2); // still the hung one
    await pleg.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('GenericPleg channel and metrics', () => {
  it('drops and counts events beyond the channel capacity without blocking the relist', async () => {
    const { pleg, metrics } = setup({ channelCapacity: 3 });
    const iterator = pleg.watch()[Symbol.asyncIterator](); // a subscriber that does not read
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    for (let i = 0; i < 4; i++) runtime.addContainer(sb);
    pleg.start();
    await clock.flush();
    // 5 events sent at once: each subscriber's buffer (the listener's and the idle
    // iterator's) keeps 3 and drops 2.
    expect(metrics.value('kubelet_pleg_discard_events')).toBe(4);
    expect(pleg.healthy().ok).toBe(true); // relist mode does not judge the channel
    await relists();
    expect(runtime.callCount('listPodSandbox')).toBe(2);
    const first = await iterator.next();
    expect(first.value).toMatchObject({ type: 'ContainerStarted', podUid: 'uid-1' });
    await iterator.return?.();
  });

  it('records relist duration, interval and last seen', async () => {
    const { pleg, metrics } = setup();
    pleg.start();
    await clock.flush();
    await relists(2);
    expect(metrics.observations('kubelet_pleg_relist_duration_seconds')).toEqual([0, 0, 0]);
    expect(metrics.observations('kubelet_pleg_relist_interval_seconds')).toEqual([1, 1]);
    expect(metrics.value('kubelet_pleg_last_seen_seconds')).toBe(Math.floor(clock.now() / 1000));
  });

  it('is a GenericPleg in relist mode', () => {
    const { pleg } = setup();
    expect(pleg).toBeInstanceOf(GenericPleg);
    expect(pleg.mode()).toBe('relist');
  });
});
