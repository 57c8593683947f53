import { KubeConfig } from '@kubernetes/client-node';
import { NotFoundError, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeApi, type KubeApi } from './kube-api.js';
import {
  createConfigMapManager,
  createSecretManager,
  objectTtlFromNode,
} from './object-manager-strategies.js';
import { WatchingConfigMapManager } from './watching-object-managers.js';

let clock: FakeClock;
let server: TestApiServer;
let api: KubeApi;

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
  await server.stop();
});

function put(name: string, data: Record<string, string>, immutable = false): void {
  const r = server.store.resource('configmaps');
  const body = { metadata: { name }, data, ...(immutable ? { immutable: true } : {}) };
  if (server.store.tryGet(r, 'default', name) === undefined)
    server.store.create(r, 'default', body);
  else server.store.update(r, 'default', body);
}

const gets = (name: string): number =>
  server.requests.filter(
    (r) => r.method === 'GET' && r.path === `/api/v1/namespaces/default/configmaps/${name}`,
  ).length;

function pod(uid: string, configMap: string): k8s.Pod {
  return {
    metadata: { name: `pod-${uid}`, namespace: 'default', uid },
    spec: {
      containers: [{ name: 'c', image: 'busybox' }],
      volumes: [{ name: 'v', configMap: { name: configMap } }],
    },
  };
}

describe('configMapAndSecretChangeDetectionStrategy', () => {
  it('Get: every read is a GET and sees the current object; a missing one is NotFound', async () => {
    const m = createConfigMapManager('Get', { api, clock });
    put('cfg', { a: '1' });
    m.registerPod(pod('u1', 'cfg'));
    expect((await m.getConfigMap('default', 'cfg')).data).toEqual({ a: '1' });
    put('cfg', { a: '2' });
    expect((await m.getConfigMap('default', 'cfg')).data).toEqual({ a: '2' });
    expect(gets('cfg')).toBe(2);
    const err = await m.getConfigMap('default', 'nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe('configmap "nope" not found');
    // Nothing is watched.
    expect(server.openWatches).toBe(0);
    m.stop();
  });

  it('Cache: a registered object is read once per TTL; a new pod referencing it gets a fresh read', async () => {
    const m = createConfigMapManager('Cache', { api, clock });
    put('cfg', { a: '1' });
    m.registerPod(pod('u1', 'cfg'));
    expect((await m.getConfigMap('default', 'cfg')).data).toEqual({ a: '1' });
    put('cfg', { a: '2' });
    // Within the minute: the cached copy.
    await clock.advance(59_000);
    expect((await m.getConfigMap('default', 'cfg')).data).toEqual({ a: '1' });
    expect(gets('cfg')).toBe(1);
    // Past it: read again.
    await clock.advance(1_000);
    expect((await m.getConfigMap('default', 'cfg')).data).toEqual({ a: '2' });
    expect(gets('cfg')).toBe(2);
    // A pod registering a reference invalidates the cached copy.
    put('cfg', { a: '3' });
    m.registerPod(pod('u2', 'cfg'));
    expect((await m.getConfigMap('default', 'cfg')).data).toEqual({ a: '3' });
    expect(gets('cfg')).toBe(3);
    expect(server.openWatches).toBe(0);
    m.stop();
  });

  it('Cache: the TTL comes from the given function (the Node annotation); immutable objects are kept; failures are cached too', async () => {
    let ttl: number | undefined = 5_000;
    const m = createSecretManager('Cache', { api, clock, ttlMs: () => ttl });
    const secrets = server.store.resource('secrets');
    server.store.create(secrets, 'default', { metadata: { name: 's' }, data: { k: 'djE=' } });
    const withSecret: k8s.Pod = {
      metadata: { name: 'p', namespace: 'default', uid: 'u1' },
      spec: {
        containers: [{ name: 'c', image: 'x' }],
        volumes: [{ name: 'v', secret: { secretName: 's' } }],
      },
    };
    m.registerPod(withSecret);
    await m.getSecret('default', 's');
    await clock.advance(5_000);
    await m.getSecret('default', 's');
    const secretGets = () =>
      server.requests.filter((r) => r.path === '/api/v1/namespaces/default/secrets/s').length;
    expect(secretGets()).toBe(2);
    ttl = undefined; // default: one minute
    await clock.advance(30_000);
    await m.getSecret('default', 's');
    expect(secretGets()).toBe(2);

    const cm = createConfigMapManager('Cache', { api, clock });
    put('frozen', { a: '1' }, true);
    cm.registerPod(pod('u3', 'frozen'));
    await cm.getConfigMap('default', 'frozen');
    await clock.advance(3_600_000);
    await cm.getConfigMap('default', 'frozen');
    expect(gets('frozen')).toBe(1);
    cm.registerPod(pod('u4', 'missing'));
    await expect(cm.getConfigMap('default', 'missing')).rejects.toThrow(
      'configmap "missing" not found',
    );
    await expect(cm.getConfigMap('default', 'missing')).rejects.toThrow(
      'configmap "missing" not found',
    );
    expect(gets('missing')).toBe(1);
    m.stop();
    cm.stop();
  });

  it('Watch is the watching manager; the node TTL annotation is read in seconds', () => {
    const m = createConfigMapManager('Watch', { api, clock });
    expect(m).toBeInstanceOf(WatchingConfigMapManager);
    m.stop();
    expect(
      objectTtlFromNode({ metadata: { annotations: { 'node.alpha.kubernetes.io/ttl': '15' } } }),
    ).toBe(15_000);
    expect(
      objectTtlFromNode({ metadata: { annotations: { 'node.alpha.kubernetes.io/ttl': 'x' } } }),
    ).toBeUndefined();
    expect(objectTtlFromNode(undefined)).toBeUndefined();
  });
});
