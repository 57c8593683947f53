import { KubeConfig } from '@kubernetes/client-node';
import type { PodSource, PodUpdate } from '@nodeagent/core';
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
