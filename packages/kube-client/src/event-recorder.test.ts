import { KubeConfig } from '@kubernetes/client-node';
import type { k8s } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { startTestApiServer, type JsonObject, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/** Waits for real I/O with the in-process API server (the machine may be busy); not a timing assert. */
const settle = { timeout: 20_000, interval: 10 };
import { aggregatedEventMessagePrefix } from './event-correlator.js';
import {
  ApiEventRecorder,
  createApiEventRecorder,
  type ApiEventRecorderOptions,
} from './event-recorder.js';
import { createKubeApi, type KubeApi } from './kube-api.js';

const node = 'node-1';

function pod(name: string, namespace = 'ns1'): k8s.ObjectReference {
  return { kind: 'Pod', apiVersion: 'v1', namespace, name, uid: `uid-${name}` };
}

describe('ApiEventRecorder', { timeout: 60_000 }, () => {
  let server: TestApiServer;
  let clock: FakeClock;
  let api: KubeApi;
  let metrics: InMemoryMetrics;
  let recorder: ApiEventRecorder | undefined;

  function kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(
      server.kubeconfig(
        server.issueClientCertificate({ name: `system:node:${node}`, groups: ['system:nodes'] }),
      ),
    );
    return kc;
  }

  beforeEach(async () => {
    server = await startTestApiServer({ tls: true });
    server.store.create(server.store.resource('namespaces'), '', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'ns1' },
    });
    clock = new FakeClock();
    metrics = new InMemoryMetrics();
    api = createKubeApi(kubeConfig(), { qps: 0, clock, metrics });
  });

  afterEach(async () => {
    await recorder?.stop();
    recorder = undefined;
    api.limiter.stop();
    await server.stop();
  });

  function start(options: Partial<ApiEventRecorderOptions> = {}): ApiEventRecorder {
    recorder = createApiEventRecorder({
      api,
      nodeName: node,
      clock,
      random: { float: () => 0.5 },
      metrics,
      ...options,
    });
    recorder.start();
    return recorder;
  }

  const eventRequests = (): typeof server.requests =>
    server.requests.filter((r) => r.resource === 'events');
  const storedEvents = (namespace: string): JsonObject[] =>
    server.store.list(server.store.resource('events'), namespace);
  const waitForRequests = (n: number): Promise<void> =>
    vi.waitFor(() => expect(eventRequests()).toHaveLength(n), settle);

  it('creates a core/v1 Event like the kubelet: name, namespace, source, reporting, timestamps', async () => {
    const r = start();
    r.event(pod('web'), 'Normal', 'Pulling', 'Pulling image "busybox"');
    r.nodeEvent('Normal', 'NodeReady', 'Node node-1 status is now: NodeReady');
    await waitForRequests(2);
    const [e] = storedEvents('ns1');
    expect(e).toMatchObject({
      involvedObject: pod('web'),
      reason: 'Pulling',
      message: 'Pulling image "busybox"',
      type: 'Normal',
      source: { component: 'kubelet', host: node },
      reportingComponent: 'kubelet',
      reportingInstance: node,
      count: 1,
      firstTimestamp: '2026-01-01T00:00:00Z',
      lastTimestamp: '2026-01-01T00:00:00Z',
    });
    expect(e?.eventTime ?? null).toBeNull();
    expect((e?.metadata as { name: string }).name).toMatch(/^web\.[0-9a-f]+$/);
    const [n] = storedEvents('default');
    expect(n).toMatchObject({
      involvedObject: { kind: 'Node', name: node, uid: node },
      reason: 'NodeReady',
    });
    expect(eventRequests().map((q) => [q.method, q.status])).toEqual([
      ['POST', 201],
      ['POST', 201],
    ]);
    await vi.waitFor(() => expect(r.stats()).toMatchObject({ created: 2, patched: 0 }), settle);
  });

  it('dedups an identical event into strategic merge PATCHes of count and lastTimestamp', async () => {
    const r = start();
    for (let i = 0; i < 3; i++) {
      r.event(pod('web'), 'Warning', 'BackOff', 'Back-off restarting failed container');
      await waitForRequests(i + 1);
      await clock.advance(7_000);
    }
    const reqs = eventRequests();
    expect(reqs.map((q) => q.verb)).toEqual(['create', 'patch', 'patch']);
    expect(reqs[1]?.contentType).toContain('application/strategic-merge-patch+json');
    const events = storedEvents('ns1');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      count: 3,
      firstTimestamp: '2026-01-01T00:00:00Z',
      lastTimestamp: '2026-01-01T00:00:14Z',
    });
    await vi.waitFor(() => expect(r.stats()).toMatchObject({ created: 1, patched: 2 }), settle);
  });

  it('creates the Event again when the one it would patch is gone', async () => {
    const r = start();
    r.event(pod('web'), 'Normal', 'Started', 'Started container web');
    await waitForRequests(1);
    const name = (storedEvents('ns1')[0]?.metadata as { name: string }).name;
    server.store.delete(server.store.resource('events'), 'ns1', name);
    r.event(pod('web'), 'Normal', 'Started', 'Started container web');
    await waitForRequests(3);
    expect(eventRequests().map((q) => [q.verb, q.status])).toEqual([
      ['create', 201],
      ['patch', 404],
      ['create', 201],
    ]);
    expect(storedEvents('ns1')).toHaveLength(1);
  });

  it('aggregates the 10th similar event with a new message into one combined event', async () => {
    const r = start();
    for (let i = 1; i <= 12; i++) {
      r.event(pod('web'), 'Warning', 'FailedMount', `volume v${i} not ready`);
    }
    await waitForRequests(12);
    const events = storedEvents('ns1');
    // 9 individual events, then one aggregate event patched for the 11th and 12th.
    expect(events).toHaveLength(10);
    const combined = events.filter(
      (e) => typeof e.message === 'string' && e.message.startsWith(aggregatedEventMessagePrefix),
    );
    expect(combined).toHaveLength(1);
    expect(combined[0]).toMatchObject({
      message: `${aggregatedEventMessagePrefix}volume v12 not ready`,
      count: 3,
      reason: 'FailedMount',
    });
    expect(eventRequests().filter((q) => q.verb === 'patch')).toHaveLength(2);
    // After 10 quiet minutes the window starts over: a new message is its own event again.
    await clock.advance(600_001);
    r.event(pod('web'), 'Warning', 'FailedMount', 'volume v13 not ready');
    await waitForRequests(13);
    expect(storedEvents('ns1').some((e) => e.message === 'volume v13 not ready')).toBe(true);
  });

  it('spam filter: 25 events per object, then one per 5 minutes; other objects unaffected', async () => {
    const r = start();
    for (let i = 0; i < 30; i++)
      r.event(pod('noisy'), 'Warning', 'Unhealthy', `probe failed ${i % 9}`);
    r.event(pod('quiet'), 'Warning', 'Unhealthy', 'probe failed');
    await vi.waitFor(() => expect(r.stats().queued).toBe(0), settle);
    await waitForRequests(26);
    expect(r.stats()).toMatchObject({ spamFiltered: 5 });
    expect(
      metrics.value('nodeagent_event_recorder_events_total', { result: 'spam_filtered' }),
    ).toBe(5);
    expect(
      storedEvents('ns1').some((e) => (e.involvedObject as { name: string }).name === 'quiet'),
    ).toBe(true);
    r.event(pod('noisy'), 'Warning', 'Unhealthy', 'probe failed 0');
    await vi.waitFor(() => expect(r.stats().spamFiltered).toBe(6), settle);
    await clock.advance(300_000);
    r.event(pod('noisy'), 'Warning', 'Unhealthy', 'probe failed 0');
    await waitForRequests(27);
    expect(r.stats().spamFiltered).toBe(6);
  });

  it('waits for the eventRecordQPS/eventBurst limiter', async () => {
    const r = start({ eventRecordQps: 2, eventBurst: 3 });
    for (let i = 0; i < 5; i++) r.event(pod(`p${i}`), 'Normal', 'Created', 'Created container');
    await waitForRequests(3);
    // The worker now waits for a token on the fake clock.
    await vi.waitFor(() => expect(clock.pendingTimers()).toBeGreaterThan(0), settle);
    expect(eventRequests()).toHaveLength(3);
    await clock.advance(499);
    expect(eventRequests()).toHaveLength(3);
    await clock.advance(1);
    await waitForRequests(4);
    await vi.waitFor(() => expect(clock.pendingTimers()).toBeGreaterThan(0), settle);
    await clock.advance(500);
    await waitForRequests(5);
  });

  it('eventRecordQps 0 means no limit', async () => {
    const r = start({ eventRecordQps: 0, eventBurst: 1 });
    for (let i = 0; i < 20; i++) r.event(pod(`p${i}`), 'Normal', 'Created', 'Created container');
    await vi.waitFor(() => expect(r.stats().created).toBe(20), settle);
    expect(eventRequests()).toHaveLength(20);
  });

  it('retries a 500 after a jittered then a full pause, then succeeds', async () => {
    server.faults.failRequests({ code: 500, times: 2, match: { resource: 'events' } });
    const r = start();
    r.event(pod('web'), 'Normal', 'Pulled', 'Successfully pulled image');
    await waitForRequests(1);
    await vi.waitFor(() => expect(clock.nextTimerDelay()).toBe(5_000), settle); // 10 s × random 0.5
    await clock.advance(4_999);
    expect(eventRequests()).toHaveLength(1);
    await clock.advance(1);
    await waitForRequests(2);
    await vi.waitFor(() => expect(clock.nextTimerDelay()).toBe(10_000), settle);
    await clock.advance(10_000);
    await waitForRequests(3);
    expect(eventRequests().map((q) => q.status)).toEqual([500, 500, 201]);
    await vi.waitFor(() => expect(r.stats().created).toBe(1), settle);
    expect(storedEvents('ns1')).toHaveLength(1);
  });

  it('drops an event after maxTries failed attempts', async () => {
    server.faults.failRequests({ code: 503, match: { resource: 'events' } });
    const r = start({ maxTries: 3 });
    r.event(pod('web'), 'Normal', 'Pulled', 'Successfully pulled image');
    for (let n = 1; n <= 3; n++) {
      await waitForRequests(n);
      if (n < 3) {
        await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1), settle);
        await clock.advance(10_000);
      }
    }
    await vi.waitFor(() => expect(r.stats().droppedAfterRetries).toBe(1), settle);
    expect(clock.pendingTimers()).toBe(0);
    expect(eventRequests()).toHaveLength(3);
    // The default is client-go's 12 tries.
    expect(r.stats().created).toBe(0);
  });

  it('does not retry an event the server rejects', async () => {
    server.faults.failRequests({ code: 403, times: 1, match: { resource: 'events' } });
    const r = start();
    r.event(pod('web'), 'Normal', 'Pulled', 'Successfully pulled image');
    r.event(pod('other'), 'Normal', 'Pulled', 'Successfully pulled image');
    await waitForRequests(2);
    expect(eventRequests().map((q) => q.status)).toEqual([403, 201]);
    await vi.waitFor(() => expect(r.stats()).toMatchObject({ rejected: 1, created: 1 }), settle);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('drops events when the queue is full, and counts them', async () => {
    recorder = createApiEventRecorder({ api, nodeName: node, clock, queueSize: 3, metrics });
    for (let i = 0; i < 5; i++) recorder.event(pod(`p${i}`), 'Normal', 'Created', 'x');
    expect(recorder.stats()).toMatchObject({ queued: 3, droppedQueueFull: 2 });
    expect(metrics.value('nodeagent_event_recorder_events_total', { result: 'queue_full' })).toBe(
      2,
    );
    recorder.start();
    await waitForRequests(3);
  });

  it('stop() writes what is queued, then drops new events', async () => {
    const r = start();
    for (let i = 0; i < 4; i++) r.event(pod(`p${i}`), 'Normal', 'Killing', 'Stopping container');
    await r.stop();
    expect(r.stats()).toMatchObject({ created: 4, queued: 0, droppedAtStop: 0 });
    r.event(pod('late'), 'Normal', 'Killing', 'Stopping container');
    expect(r.stats()).toMatchObject({ queued: 0, droppedAtStop: 1 });
    expect(clock.pendingTimers()).toBe(0);
    expect(eventRequests()).toHaveLength(4);
  });

  it('stop() gives up after the flush timeout and leaves no timers or waiters', async () => {
    const r = start({ eventRecordQps: 1, eventBurst: 1, flushTimeoutMs: 2_000 });
    for (let i = 0; i < 10; i++) r.event(pod(`p${i}`), 'Normal', 'Killing', 'Stopping container');
    await waitForRequests(1);
    const stopped = r.stop();
    await clock.advance(1_000);
    await waitForRequests(2);
    await clock.advance(1_000);
    await stopped;
    expect(r.stats().created).toBe(2);
    expect(r.stats().droppedAtStop).toBe(8);
    expect(r.stats().queued).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stop() cuts a retry pause short', async () => {
    server.faults.failRequests({ code: 500, match: { resource: 'events' } });
    const r = start();
    r.event(pod('web'), 'Normal', 'Pulled', 'x');
    await waitForRequests(1);
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1), settle);
    await r.stop();
    expect(r.stats().droppedAtStop).toBe(1);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('never throws into the caller', () => {
    recorder = createApiEventRecorder({ api, nodeName: node, clock });
    const weird = { kind: 'Pod' } as k8s.ObjectReference;
    expect(() => recorder?.event(weird, 'Normal', 'X', 'y')).not.toThrow();
  });

  it('ApiEventRecorder.nodeReference is the kubelet node reference', () => {
    expect(ApiEventRecorder.nodeReference('n9')).toEqual({
      kind: 'Node',
      name: 'n9',
      uid: 'n9',
      namespace: '',
    });
  });

  it('REST client metrics: requests by code/method/host, durations and rate limiter waits', async () => {
    server.faults.failRequests({ code: 500, times: 1, match: { resource: 'events' } });
    const r = start();
    r.event(pod('web'), 'Normal', 'Pulled', 'x');
    await waitForRequests(1);
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1), settle);
    await clock.advance(10_000);
    await waitForRequests(2);
    const host = new URL(server.url).host;
    await vi.waitFor(
      () =>
        expect(
          metrics.value('rest_client_requests_total', { code: '201', method: 'POST', host }),
        ).toBe(1),
      settle,
    );
    expect(metrics.value('rest_client_requests_total', { code: '500', method: 'POST', host })).toBe(
      1,
    );
    expect(
      metrics.observations('rest_client_request_duration_seconds', { verb: 'POST', host }),
    ).toHaveLength(2);
    expect(
      metrics.observations('rest_client_rate_limiter_duration_seconds', { verb: 'POST', host }),
    ).toEqual([0, 0]);
  });

  it('REST client metrics: a transport error is counted with code <error>', async () => {
    const kc = kubeConfig();
    const host = new URL(server.url).host;
    await server.stop();
    const down = createKubeApi(kc, { qps: 0, clock, metrics });
    await expect(down.core.listNamespace()).rejects.toThrow();
    expect(
      metrics.value('rest_client_requests_total', { code: '<error>', method: 'GET', host }),
    ).toBe(1);
    server = await startTestApiServer({ tls: true });
  });
});
