import { KubeConfig } from '@kubernetes/client-node';
import { PodOperation, type PodSource, type PodUpdate, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi, type KubeApi } from '@nodeagent/kube-client';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WatchingNodeLister, waitForNodeSync } from './node-lister.js';

let clock: FakeClock;
let server: TestApiServer;
let api: KubeApi;
let lister: WatchingNodeLister | undefined;

beforeEach(async () => {
  clock = new FakeClock();
  server = await startTestApiServer({ clock, tls: true });
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
    ),
  );
  api = createKubeApi(kc, { clock, qps: 0 });
});

afterEach(async () => {
  lister?.stop();
  lister = undefined;
  await server.stop();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

const nodes = () => server.store.resource('nodes');

function createNode(name: string, labels: Record<string, string>): void {
  server.store.create(nodes(), '', { metadata: { name, labels } });
}

function setLabels(name: string, labels: Record<string, string>): void {
  const n = server.store.get(nodes(), '', name);
  server.store.update(nodes(), '', {
    ...n,
    metadata: { ...(n.metadata as Record<string, unknown>), labels },
  });
}

function start(): WatchingNodeLister {
  lister = new WatchingNodeLister({ nodeName: 'n1', api, clock, random: { float: () => 0 } });
  lister.start();
  return lister;
}

/** A pod source that records its starts and stops. */
function recordingSource(): PodSource & { starts: number; stops: number } {
  const s = {
    name: 'api' as const,
    starts: 0,
    stops: 0,
    start() {
      s.starts++;
    },
    stop() {
      s.stops++;
      return Promise.resolve();
    },
    subscribe(_listener: (u: PodUpdate) => void) {
      return () => {};
    },
  };
  return s;
}

describe('WatchingNodeLister (kubelet nodeLister: an informer on its own Node)', () => {
  it('lists only this node (metadata.name field selector) and sees label changes through the watch', async () => {
    createNode('n1', { a: '1' });
    createNode('other', { b: '2' });
    const l = start();
    expect(l.node()).toBeUndefined();
    await until(() => l.hasSynced(), 'synced');
    expect(l.node()?.metadata).toMatchObject({ name: 'n1', labels: { a: '1' } });
    const list = server.requests.find((r) => r.method === 'GET' && r.path === '/api/v1/nodes');
    expect(new URLSearchParams(list?.query).get('fieldSelector')).toBe('metadata.name=n1');

    // A label added by an administrator is seen without waiting for a status tick.
    setLabels('n1', { a: '1', 'custom-label-key-required': 'yes' });
    await until(() => l.node()?.metadata.labels?.['custom-label-key-required'] === 'yes', 'label');
    setLabels('n1', { a: '1' });
    await until(
      () => l.node()?.metadata.labels?.['custom-label-key-required'] === undefined,
      'removed',
    );
    // A change to another node is never seen.
    expect(l.node()?.metadata.name).toBe('n1');
  });

  it('a Node registered after the first list appears (undefined until then)', async () => {
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    expect(l.node()).toBeUndefined();
    createNode('n1', { registered: 'later' });
    await until(() => l.node() !== undefined, 'registered node');
    expect(l.node()?.metadata.labels).toEqual({ registered: 'later' });
  });

  it('stop leaves no timer behind', async () => {
    createNode('n1', {});
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    l.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('waitForNodeSync (kubelet NewSourceApiserver waits for nodeHasSynced)', () => {
  it('starts the API pod source only once the Node was listed', async () => {
    createNode('n1', {});
    const source = recordingSource();
    const gated = waitForNodeSync(source, new WatchingNodeLister({ nodeName: 'n1', api, clock }));
    // Not started while the lister is not even running.
    const l = start();
    const gatedOnStarted = waitForNodeSync(source, l);
    gatedOnStarted.start();
    expect(source.starts).toBe(0);
    await until(() => l.hasSynced(), 'synced');
    await until(() => source.starts === 1, 'source started');
    await gatedOnStarted.stop();
    expect(source.stops).toBe(1);
    // Stopped before the lister was ready: never started, never stopped.
    gated.start();
    await gated.stop();
    expect(source.starts).toBe(1);
    expect(source.stops).toBe(1);
  });

  it('starts it without the Node when the API server cannot be reached (the pod checkpoint serves)', async () => {
    server.faults.failRequests({ code: 503 });
    const source = recordingSource();
    const l = start();
    waitForNodeSync(source, l).start();
    await until(() => source.starts === 1, 'source started after the first failure');
    expect(l.hasSynced()).toBe(false);
  });
});

describe('waitForNodeSync: a pod that needs a label the watch has not brought yet', () => {
  const pod = (name: string, nodeSelector?: Record<string, string>): k8s.Pod => ({
    metadata: { name, namespace: 'ns', uid: `uid-${name}` },
    spec: {
      nodeName: 'n1',
      containers: [{ name: 'c', image: 'x' }],
      ...(nodeSelector ? { nodeSelector } : {}),
    },
  });

  /** A pod source whose updates the test emits. */
  function emittingSource(): PodSource & { emit(u: PodUpdate): void } {
    const listeners = new Set<(u: PodUpdate) => void>();
    return {
      name: 'api',
      start() {},
      stop: () => Promise.resolve(),
      subscribe(l) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      emit(u) {
        for (const l of listeners) l(u);
      },
    };
  }

  it('reads the Node again before handing on the pod, keeping later updates in order', async () => {
    createNode('n1', {});
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    // The watch lags: the label added now is not seen by the reflector.
    l.stop();
    setLabels('n1', { 'custom-label-key-required': 'required' });
    expect(l.node()?.metadata.labels).toEqual({});

    const source = emittingSource();
    const seen: string[] = [];
    const gated = waitForNodeSync(source, l);
    gated.subscribe((u) => {
      seen.push(`${u.op}:${u.pods.map((p) => p.metadata?.name).join(',')}`);
      // What admission reads when the pod arrives: the Node with the label.
      if (u.op === PodOperation.ADD && u.pods[0]?.metadata?.name === 'needs-label')
        expect(l.node()?.metadata.labels).toEqual({ 'custom-label-key-required': 'required' });
    });
    const gets = () => server.requests.filter((r) => r.path === '/api/v1/nodes/n1').length;
    source.emit({ op: PodOperation.ADD, source: 'api', pods: [pod('plain')] });
    expect(seen).toEqual(['ADD:plain']); // nothing to wait for: handed on at once
    source.emit({
      op: PodOperation.ADD,
      source: 'api',
      pods: [pod('needs-label', { 'custom-label-key-required': 'required' })],
    });
    source.emit({ op: PodOperation.UPDATE, source: 'api', pods: [pod('plain')] });
    expect(seen).toEqual(['ADD:plain']); // waiting for the read, the update behind it
    await until(() => seen.length === 3, 'handed on');
    expect(seen).toEqual(['ADD:plain', 'ADD:needs-label', 'UPDATE:plain']);
    expect(gets()).toBe(1);

    // A selector the Node really does not match: one read, then handed on (admission refuses).
    source.emit({ op: PodOperation.ADD, source: 'api', pods: [pod('wrong', { other: 'x' })] });
    await until(() => seen.length === 4, 'handed on');
    expect(gets()).toBe(2);
  });

  it('the API source sends SET snapshots: a pod new in one is treated like an ADD, known ones are not read again', async () => {
    createNode('n1', {});
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    l.stop();
    const source = emittingSource();
    const seen: string[] = [];
    waitForNodeSync(source, l).subscribe((u) => {
      seen.push(`${u.op}:${u.pods.map((p) => p.metadata?.name).join(',')}`);
      if (u.pods.some((p) => p.metadata?.name === 'needs-label'))
        expect(l.node()?.metadata.labels).toEqual({ 'custom-label-key-required': 'required' });
    });
    const gets = () => server.requests.filter((r) => r.path === '/api/v1/nodes/n1').length;
    const plain = pod('plain');
    source.emit({ op: PodOperation.SET, source: 'api', pods: [plain] });
    expect(seen).toEqual(['SET:plain']);
    setLabels('n1', { 'custom-label-key-required': 'required' });
    const needs = pod('needs-label', { 'custom-label-key-required': 'required' });
    source.emit({ op: PodOperation.SET, source: 'api', pods: [plain, needs] });
    expect(seen).toEqual(['SET:plain']); // waiting for the read
    await until(() => seen.length === 2, 'handed on');
    expect(gets()).toBe(1);
    // The same snapshot again (the pod is known now): no read, handed on at once.
    source.emit({ op: PodOperation.SET, source: 'api', pods: [plain, needs] });
    expect(seen).toHaveLength(3);
    expect(gets()).toBe(1);
  });

  it('hands the pod on when the Node cannot be read (API server down), after the timeout at most', async () => {
    createNode('n1', {});
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    l.stop();
    server.faults.failRequests({ code: 503 });
    const source = emittingSource();
    const seen: string[] = [];
    waitForNodeSync(source, l).subscribe((u) => seen.push(String(u.pods[0]?.metadata?.name)));
    source.emit({ op: PodOperation.ADD, source: 'api', pods: [pod('p', { k: 'v' })] });
    await until(() => seen.length === 1, 'handed on after the failed read');
    expect(l.node()?.metadata.labels).toEqual({});
  });

  it('a read that hangs is given up after 5 s, leaving no timer', async () => {
    const hanging = {
      core: { readNode: () => new Promise<never>(() => {}) },
    } as unknown as KubeApi;
    const l2 = new WatchingNodeLister({ nodeName: 'n1', api: hanging, clock });
    let done = false;
    void l2.refresh().then(() => (done = true));
    await clock.advance(4_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await until(() => done, 'refresh gave up');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('the watch is believed again once it brings a change', async () => {
    createNode('n1', {});
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    setLabels('n1', { a: '1' });
    await l.refresh();
    expect(l.node()?.metadata.labels).toEqual({ a: '1' });
    setLabels('n1', { a: '2' });
    await until(() => l.node()?.metadata.labels?.a === '2', 'watched change');
  });
});
