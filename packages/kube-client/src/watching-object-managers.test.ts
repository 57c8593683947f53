import { KubeConfig } from '@kubernetes/client-node';
import { NotFoundError, UnavailableError, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeApi, type KubeApi } from './kube-api.js';
import { podConfigMapNames, podSecretNames } from './pod-references.js';
import { WatchingConfigMapManager, WatchingSecretManager } from './watching-object-managers.js';

let clock: FakeClock;
let server: TestApiServer;
let api: KubeApi;
let managers: { stop(): void }[] = [];

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
  for (const m of managers) m.stop();
  managers = [];
  await server.stop();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

function configMaps(): WatchingConfigMapManager {
  const m = new WatchingConfigMapManager({ api, clock, random: { float: () => 0 } });
  managers.push(m);
  return m;
}

function putConfigMap(name: string, data: Record<string, string>, immutable = false): void {
  const r = server.store.resource('configmaps');
  const current = server.store.tryGet(r, 'default', name);
  const body = { metadata: { name }, data, ...(immutable ? { immutable: true } : {}) };
  if (current === undefined) server.store.create(r, 'default', body);
  else server.store.update(r, 'default', body);
}

function pod(uid: string, spec: Partial<k8s.PodSpec>): k8s.Pod {
  return {
    metadata: { name: `pod-${uid}`, namespace: 'default', uid },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
  };
}

const volumePod = (uid: string, ...names: string[]): k8s.Pod =>
  pod(uid, { volumes: names.map((n) => ({ name: n, configMap: { name: n } })) });

const watchesOf = (name: string): number =>
  server.requests.filter(
    (q) =>
      q.verb === 'watch' &&
      q.resource === 'configmaps' &&
      new URLSearchParams(q.query).get('fieldSelector') === `metadata.name=${name}`,
  ).length;

describe('pod references', () => {
  it('collects ConfigMaps and Secrets from volumes, projected sources, env, envFrom, pull secrets and CSI', () => {
    const p = pod('u', {
      imagePullSecrets: [{ name: 'pull' }],
      initContainers: [
        {
          name: 'i',
          image: 'x',
          envFrom: [{ configMapRef: { name: 'cm-init' }, secretRef: { name: 's-init' } }],
        },
      ],
      containers: [
        {
          name: 'c',
          image: 'x',
          env: [
            { name: 'A', valueFrom: { configMapKeyRef: { name: 'cm-env', key: 'k' } } },
            { name: 'B', valueFrom: { secretKeyRef: { name: 's-env', key: 'k' } } },
          ],
        },
      ],
      volumes: [
        { name: 'v1', configMap: { name: 'cm-vol' } },
        { name: 'v2', secret: { secretName: 's-vol' } },
        {
          name: 'v3',
          projected: {
            sources: [{ configMap: { name: 'cm-proj' } }, { secret: { name: 's-proj' } }],
          },
        },
        { name: 'v4', csi: { driver: 'd', nodePublishSecretRef: { name: 's-csi' } } },
      ],
    });
    expect([...podConfigMapNames(p)].sort()).toEqual(['cm-env', 'cm-init', 'cm-proj', 'cm-vol']);
    expect([...podSecretNames(p)].sort()).toEqual(
      ['pull', 's-csi', 's-env', 's-init', 's-proj', 's-vol'].sort(),
    );
  });
});

describe('WatchingConfigMapManager', () => {
  it('watches each referenced object once, ref-counted by pod UID, and serves updates', async () => {
    putConfigMap('shared', { k: 'v1' });
    const m = configMaps();
    m.registerPod(volumePod('p1', 'shared'));
    m.registerPod(volumePod('p2', 'shared'));
    m.registerPod(volumePod('p1', 'shared')); // idempotent
    expect(m.watchedObjects).toBe(1);
    expect((await m.getConfigMap('default', 'shared')).data).toEqual({ k: 'v1' });
    await until(() => server.openWatches === 1, 'watching');
    expect(watchesOf('shared')).toBe(1);

    putConfigMap('shared', { k: 'v2' });
    for (let i = 0; i < 100; i++) {
      if ((await m.getConfigMap('default', 'shared')).data?.k === 'v2') break;
      await new Promise<void>((r) => setImmediate(r));
    }
    expect((await m.getConfigMap('default', 'shared')).data).toEqual({ k: 'v2' });
    const gets = server.requests.filter((q) => q.verb === 'get').length;
    expect(gets).toBe(0);

    m.unregisterPod(volumePod('p1'));
    expect(m.watchedObjects).toBe(1);
    m.unregisterPod(volumePod('p2'));
    expect(m.watchedObjects).toBe(0);
    expect(m.referencedObjects).toBe(0);
    await until(() => server.openWatches === 0, 'watch closed');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a new pod version moves the references: dropped objects stop being watched, kept ones keep their watch', async () => {
    putConfigMap('a', { x: '1' });
    putConfigMap('b', { x: '2' });
    const m = configMaps();
    m.registerPod(volumePod('p1', 'a', 'b'));
    await m.getConfigMap('default', 'a');
    m.registerPod(volumePod('p1', 'a'));
    expect(m.referencedObjects).toBe(1);
    await m.getConfigMap('default', 'a');
    await until(() => watchesOf('a') === 1 && server.openWatches === 1, 'only a watched');
    const listsOfA = server.requests.filter(
      (q) =>
        q.verb === 'list' &&
        new URLSearchParams(q.query).get('fieldSelector') === 'metadata.name=a',
    );
    expect(listsOfA).toHaveLength(1);
  });

  it('NotFoundError for a registered object that does not exist; one GET for an unregistered one', async () => {
    const m = configMaps();
    m.registerPod(volumePod('p1', 'missing'));
    await expect(m.getConfigMap('default', 'missing')).rejects.toBeInstanceOf(NotFoundError);
    // the kubelet's words: apierrors.NewNotFound(corev1.Resource("configmap"), name)
    await expect(m.getConfigMap('default', 'missing')).rejects.toThrow(
      /^configmap "missing" not found$/,
    );

    putConfigMap('loose', { y: '1' });
    expect((await m.getConfigMap('default', 'loose')).data).toEqual({ y: '1' });
    expect(server.requests.filter((q) => q.verb === 'get' && q.name === 'loose')).toHaveLength(1);
    expect(m.watchedObjects).toBe(1);
    await expect(m.getConfigMap('default', 'nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(m.getConfigMap('default', 'nope')).rejects.toThrow(/^configmap "nope" not found$/);
  });

  it('fails with UnavailableError after the bounded wait when the object cannot be synced', async () => {
    await server.faults.goDown();
    const m = configMaps();
    m.registerPod(volumePod('p1', 'cm'));
    const got = m.getConfigMap('default', 'cm');
    const settled = got.catch((e: unknown) => e);
    await clock.advance(1_000);
    const err = await settled;
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      'failed to sync configmap cache: timed out waiting for the condition',
    );
    await server.faults.comeBack();
  });

  it('stops watching an immutable object once seen and keeps serving it', async () => {
    putConfigMap('frozen', { z: '1' }, true);
    const m = configMaps();
    m.registerPod(volumePod('p1', 'frozen'));
    expect((await m.getConfigMap('default', 'frozen')).immutable).toBe(true);
    expect(m.watchedObjects).toBe(0);
    expect(m.referencedObjects).toBe(1);
    await until(() => server.openWatches === 0, 'no watch');
    expect((await m.getConfigMap('default', 'frozen')).data).toEqual({ z: '1' });
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('WatchingSecretManager', () => {
  it('serves secrets referenced through imagePullSecrets and env', async () => {
    server.store.create(server.store.resource('secrets'), 'default', {
      metadata: { name: 'pull' },
      data: { '.dockerconfigjson': Buffer.from('{}').toString('base64') },
      type: 'kubernetes.io/dockerconfigjson',
    });
    const m = new WatchingSecretManager({ api, clock });
    managers.push(m);
    m.registerPod(pod('p1', { imagePullSecrets: [{ name: 'pull' }] }));
    expect(m.watchedObjects).toBe(1);
    const s = await m.getSecret('default', 'pull');
    expect(s.type).toBe('kubernetes.io/dockerconfigjson');
    m.unregisterPod(pod('p1', {}));
    expect(m.watchedObjects).toBe(0);
  });
});
