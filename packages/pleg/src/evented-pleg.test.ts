import { UnavailableError, UnimplementedError, type PodLifecycleEvent } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { FakeRuntime } from '@nodeagent/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createPleg } from './create-pleg.js';
import { EventedPleg } from './evented-pleg.js';

let clock: FakeClock;
let runtime: FakeRuntime;
let pleg: EventedPleg | undefined;

afterEach(async () => {
  await pleg?.stop();
  pleg = undefined;
});

function setup(options: Partial<Parameters<typeof createPleg>[0]> = {}): {
  pleg: EventedPleg;
  events: PodLifecycleEvent[];
  metrics: InMemoryMetrics;
} {
  clock = new FakeClock();
  runtime = new FakeRuntime({ clock });
  const metrics = new InMemoryMetrics();
  const p = createPleg({ runtime, clock, metrics, mode: 'evented', ...options });
  if (!(p instanceof EventedPleg)) throw new Error('expected an EventedPleg');
  pleg = p;
  const events: PodLifecycleEvent[] = [];
  p.subscribe((e) => {
    events.push(e);
  });
  return { pleg: p, events, metrics };
}

const take = (events: PodLifecycleEvent[]): Array<[string, string]> =>
  events.splice(0).map((e) => [e.type, e.containerId]);

describe('EventedPleg', () => {
  it('maps CRI events without waiting for a relist: CREATED → none, STARTED, STOPPED, DELETED → Died + Removed', async () => {
    const { pleg, events } = setup();
    pleg.start();
    await clock.flush();
    expect(runtime.openEventStreams()).toBe(1);
    expect(pleg.mode()).toBe('evented');
    const sb = runtime.addSandbox({ uid: 'uid-1', name: 'web' });
    await clock.flush();
    expect(take(events)).toEqual([['ContainerStarted', sb]]);

    const { containerId: c } = await runtime.createContainer({
      podSandboxId: sb,
      config: { metadata: { name: 'app' }, labels: { 'io.kubernetes.pod.uid': 'uid-1' } },
    });
    await clock.flush();
    expect(events).toEqual([]);
    expect(pleg.cache.get('uid-1').status.containerStatuses[0]?.state).toBe('CONTAINER_CREATED');

    await runtime.startContainer({ containerId: c });
    await clock.flush();
    expect(take(events)).toEqual([['ContainerStarted', c]]);

    runtime.exitContainer(c, 2);
    await clock.flush();
    expect(take(events)).toEqual([['ContainerDied', c]]);
    expect(pleg.cache.get('uid-1').status.containerStatuses[0]).toMatchObject({
      state: 'CONTAINER_EXITED',
      exitCode: 2,
      reason: 'Error',
    });

    await runtime.removeContainer({ containerId: c });
    await clock.flush();
    expect(take(events)).toEqual([
      ['ContainerDied', c],
      ['ContainerRemoved', c],
    ]);
    expect(pleg.cache.get('uid-1').status.containerStatuses).toEqual([]);

    runtime.deleteSandbox(sb);
    await clock.flush();
    expect(take(events)).toEqual([
      ['ContainerDied', sb],
      ['ContainerRemoved', sb],
    ]);
    expect(pleg.cache.get('uid-1').timestampMs).toBe(0);
    // No relist was needed for any of it: only the one at start.
    expect(runtime.callCount('listPodSandbox')).toBe(1);
  });

  it('an exited container gets its termination message (here the log end, FallbackToLogsOnError)', async () => {
    const reads: string[] = [];
    const { pleg } = setup({
      terminationMessageFiles: {
        readTail: (path) => {
          reads.push(path);
          return Promise.resolve(
            Buffer.from(
              '2026-01-01T00:00:01.000000000Z stderr F starting\n' +
                '2026-01-01T00:00:02.000000000Z stderr F boom: no config\n',
            ),
          );
        },
      },
    });
    pleg.start();
    await clock.flush();
    const sb = runtime.addSandbox({ uid: 'uid-m', name: 'msg' });
    const { containerId: c } = await runtime.createContainer({
      podSandboxId: sb,
      config: {
        metadata: { name: 'app' },
        labels: { 'io.kubernetes.pod.uid': 'uid-m' },
        annotations: {
          'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
          'io.kubernetes.container.terminationMessagePolicy': 'FallbackToLogsOnError',
        },
        logPath: '/var/log/pods/msg/app/0.log',
      },
    });
    await runtime.startContainer({ containerId: c });
    await clock.flush();
    expect(reads).toEqual([]); // a running container has no termination message
    runtime.exitContainer(c, 2);
    await clock.flush();
    expect(reads).toEqual(['/var/log/pods/msg/app/0.log']);
    expect(pleg.cache.get('uid-m').status.containerStatuses[0]).toMatchObject({
      state: 'CONTAINER_EXITED',
      exitCode: 2,
      message: 'starting\nboom: no config\n',
    });
  });

  it('ignores events without a sandbox status, and stale statuses', async () => {
    const { pleg, events } = setup();
    pleg.start();
    await clock.flush();
    runtime.emitContainerEvent({
      containerId: 'x',
      containerEventType: 'CONTAINER_STARTED_EVENT',
      createdAt: clock.now() * 1e6,
      podSandboxStatus: null,
      containersStatuses: [],
    });
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    await clock.flush();
    take(events);
    const sandboxStatus = (await runtime.podSandboxStatus({ podSandboxId: sb })).status;
    runtime.emitContainerEvent({
      containerId: 'late',
      containerEventType: 'CONTAINER_STARTED_EVENT',
      createdAt: (clock.now() - 5_000) * 1e6,
      podSandboxStatus: sandboxStatus,
      containersStatuses: [],
    });
    await clock.flush();
    expect(events).toEqual([]);
  });

  it('keeps a slow safety relist (300 s) and moves the cache timestamp every 5 s', async () => {
    const { pleg } = setup();
    pleg.start();
    await clock.flush();
    expect(runtime.callCount('listPodSandbox')).toBe(1);
    const waiting = pleg.cache.getNewerThan('nobody', clock.now() + 1);
    await clock.advance(5_000);
    await expect(waiting).resolves.toMatchObject({ timestampMs: 0 });
    await clock.advance(294_999);
    expect(runtime.callCount('listPodSandbox')).toBe(1);
    await clock.advance(1);
    expect(runtime.callCount('listPodSandbox')).toBe(2);
    expect(pleg.healthy()).toEqual({ ok: true, message: '' });
  });

  it('relists after every stream error and falls back to relisting after 5 failed streams', async () => {
    const { pleg, events, metrics } = setup();
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    pleg.start();
    await clock.flush();
    take(events);
    for (let attempt = 1; attempt <= 4; attempt++) {
      runtime.breakEventStreams(new UnavailableError('stream broke'));
      await clock.flush();
      expect(pleg.failedStreamAttempts()).toBe(attempt);
      expect(runtime.callCount('listPodSandbox')).toBe(1 + attempt);
      expect(pleg.mode()).toBe('evented');
      expect(runtime.openEventStreams()).toBe(1);
    }
    runtime.setSandboxState(sb, 'SANDBOX_NOTREADY');
    runtime.failNext('getContainerEvents', new UnavailableError('no stream'));
    runtime.breakEventStreams(new UnavailableError('stream broke'));
    await clock.flush();
    // From the event; the relist after the error reports it again (as in the kubelet).
    expect(take(events)).toEqual([
      ['ContainerDied', sb],
      ['ContainerDied', sb],
    ]);
    expect(pleg.failedStreamAttempts()).toBe(5);
    expect(pleg.mode()).toBe('relist');
    expect(pleg.fallbackCause()).toBe('5 event streams failed');
    expect(runtime.openEventStreams()).toBe(0);
    expect(metrics.value('kubelet_evented_pleg_connection_error_count')).toBe(5);
    // Now a plain relisting PLEG: every second, with the 3 min threshold.
    const before = runtime.callCount('listPodSandbox');
    await clock.advance(1_000);
    expect(runtime.callCount('listPodSandbox')).toBe(before + 1);
    await clock.advance(1_000);
    expect(runtime.callCount('listPodSandbox')).toBe(before + 2);
    expect(runtime.callCount('getContainerEvents')).toBe(5);
  });

  it('a change whose event never came is caught by the relist after the stream error', async () => {
    clock = new FakeClock();
    runtime = new FakeRuntime({ clock, autoEvents: false });
    const p = new EventedPleg({ runtime, clock });
    pleg = p;
    const events: PodLifecycleEvent[] = [];
    p.subscribe((e) => {
      events.push(e);
    });
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    const c = runtime.addContainer(sb);
    p.start();
    await clock.flush();
    take(events);
    runtime.exitContainer(c, 1);
    await clock.flush();
    expect(events).toEqual([]);
    runtime.breakEventStreams(new UnavailableError('stream broke'));
    await clock.flush();
    expect(take(events)).toEqual([['ContainerDied', c]]);
    expect(p.mode()).toBe('evented');
  });

  it('a stream that ends cleanly counts as failed too', async () => {
    const { pleg } = setup({ maxStreamRetries: 2 });
    pleg.start();
    await clock.flush();
    runtime.endEventStreams();
    await clock.flush();
    expect(pleg.failedStreamAttempts()).toBe(1);
    runtime.endEventStreams();
    await clock.flush();
    expect(pleg.mode()).toBe('relist');
  });

  it('falls back at once when the runtime answers Unimplemented', async () => {
    const { pleg, events } = setup();
    runtime.failAlways(
      'getContainerEvents',
      new UnimplementedError('unknown method GetContainerEvents'),
    );
    const sb = runtime.addSandbox({ uid: 'uid-1' });
    pleg.start();
    await clock.flush();
    expect(pleg.mode()).toBe('relist');
    expect(pleg.fallbackCause()).toBe('the runtime does not implement GetContainerEvents');
    expect(runtime.callCount('getContainerEvents')).toBe(1);
    expect(take(events)).toEqual([['ContainerStarted', sb]]);
    const c = runtime.addContainer(sb);
    await clock.advance(1_000);
    expect(take(events)).toEqual([['ContainerStarted', c]]);
    expect(pleg.healthy()).toEqual({ ok: true, message: '' });
    await clock.advance(180_001 - 1_000);
    expect(pleg.healthy().ok).toBe(true); // relisting every second keeps it healthy
    await pleg.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('is unhealthy while a subscriber buffer is full (kubelet EventedPLEG.Healthy)', async () => {
    const { pleg } = setup({ channelCapacity: 2 });
    const idle = pleg.watch()[Symbol.asyncIterator]();
    pleg.start();
    await clock.flush();
    runtime.addSandbox({ uid: 'a' });
    runtime.addSandbox({ uid: 'b' });
    await clock.flush();
    expect(pleg.healthy()).toEqual({
      ok: false,
      message: 'EventedPLEG: pleg event channel capacity is full with 2 events',
    });
    await idle.next();
    expect(pleg.healthy().ok).toBe(true);
    await idle.return?.();
  });

  it('stop() closes the stream and leaves no timers; watch iterations end', async () => {
    const { pleg } = setup();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const e of pleg.watch()) seen.push(e.type);
    })();
    pleg.start();
    await clock.flush();
    runtime.addSandbox({ uid: 'a' });
    await clock.flush();
    await pleg.stop();
    await loop;
    expect(seen).toEqual(['ContainerStarted']);
    expect(runtime.openEventStreams()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });
});
