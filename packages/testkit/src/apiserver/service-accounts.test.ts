import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultApiTokenMountPath,
  defaultServiceAccountIssuer,
  expirationExtensionSeconds,
} from './service-accounts.js';
import {
  startTestApiServer,
  type TestApiServer,
  type TestApiServerOptions,
} from './test-api-server.js';

type Obj = Record<string, unknown>;

let server: TestApiServer;
let clock: FakeClock;

async function start(options: TestApiServerOptions = {}): Promise<void> {
  clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  server = await startTestApiServer({ clock, ...options });
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Obj }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(server.url + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Obj };
}

const o = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(o) : []);

function claimsOf(token: string): Obj {
  return o(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')));
}

async function createPod(name: string, spec: Obj = {}): Promise<Obj> {
  const r = await call('POST', '/api/v1/namespaces/default/pods', {
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
  });
  expect(r.status).toBe(201);
  return r.body;
}

async function tokenRequest(name: string, spec: Obj, ns = 'default') {
  return call('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec,
  });
}

async function review(token: string, audiences?: string[]): Promise<Obj> {
  const r = await call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, ...(audiences ? { audiences } : {}) },
  });
  expect(r.status).toBe(201);
  return o(r.body.status);
}

describe('service accounts', () => {
  beforeEach(async () => start());
  afterEach(async () => server.stop());

  it('keeps a default ServiceAccount and the kube-root-ca.crt ConfigMap in every namespace', async () => {
    const sas = server.store.resource('serviceaccounts');
    const cms = server.store.resource('configmaps');
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
      expect(server.store.tryGet(sas, ns, 'default')).toBeDefined();
    const r = await call('POST', '/api/v1/namespaces', { metadata: { name: 'team' } });
    expect(r.status).toBe(201);
    await Promise.resolve();
    expect(server.store.tryGet(sas, 'team', 'default')).toBeDefined();
    const cm = server.store.tryGet(cms, 'team', 'kube-root-ca.crt');
    expect(o(cm?.data)['ca.crt']).toBe(server.kubeletClientCaPem);
    expect(String(o(cm?.data)['ca.crt'])).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // The controllers put back what is removed or changed.
    server.store.delete(sas, 'team', 'default', {});
    server.store.update(cms, 'team', { ...cm, data: { 'ca.crt': 'nope' } });
    await Promise.resolve();
    expect(server.store.tryGet(sas, 'team', 'default')).toBeDefined();
    expect(o(server.store.tryGet(cms, 'team', 'kube-root-ca.crt')?.data)['ca.crt']).toBe(
      server.kubeletClientCaPem,
    );
    // Discovery lists serviceaccounts/token.
    const disc = await call('GET', '/api/v1');
    expect(arr(disc.body.resources).map((x) => x.name)).toEqual(
      expect.arrayContaining(['serviceaccounts', 'serviceaccounts/token']),
    );
  });

  it('issues a TokenRequest with the defaults and a pod-bound token the TokenReview accepts', async () => {
    const pod = await createPod('web');
    const uid = String(o(pod.metadata).uid);
    const r = await tokenRequest('default', {
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      spec: {
        audiences: [defaultServiceAccountIssuer],
        expirationSeconds: 3600,
        boundObjectRef: { kind: 'Pod', name: 'web', uid },
      },
      status: { expirationTimestamp: '2026-01-01T01:00:00Z' },
    });
    const token = String(o(r.body.status).token);
    const claims = claimsOf(token);
    expect(claims).toMatchObject({
      iss: defaultServiceAccountIssuer,
      sub: 'system:serviceaccount:default:default',
      aud: [defaultServiceAccountIssuer],
      exp: Date.parse('2026-01-01T01:00:00Z') / 1000,
    });
    const status = await review(token);
    expect(status).toMatchObject({
      authenticated: true,
      audiences: [defaultServiceAccountIssuer],
      user: {
        username: 'system:serviceaccount:default:default',
        groups: [
          'system:serviceaccounts',
          'system:serviceaccounts:default',
          'system:authenticated',
        ],
        extra: {
          'authentication.kubernetes.io/pod-name': ['web'],
          'authentication.kubernetes.io/pod-uid': [uid],
        },
      },
    });
    // The token is also a bearer credential of the server.
    const me = await call('GET', '/api/v1/namespaces/default/pods/web', undefined, token);
    expect(me.status).toBe(200);
    expect(server.requests.at(-1)?.user).toBe('system:serviceaccount:default:default');
    // Audiences: another audience is not accepted by a review for the API audience.
    const other = await tokenRequest('default', { audiences: ['vault'], expirationSeconds: 600 });
    const vault = String(o(other.body.status).token);
    expect((await review(vault)).authenticated).toBe(false);
    expect(await review(vault, ['vault'])).toMatchObject({
      authenticated: true,
      audiences: ['vault'],
    });
    // Expired (past exp plus the validator's 60 s leeway).
    await clock.advance(3600_000 + 61_000);
    expect(await review(token)).toMatchObject({
      authenticated: false,
      error: 'service account token has expired',
    });
  });

  it('extends a 3607 s pod-bound token to a year with warnafter, and drops it with its pod', async () => {
    const pod = await createPod('web');
    const uid = String(o(pod.metadata).uid);
    const r = await tokenRequest('default', {
      expirationSeconds: 3607,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid },
    });
    expect(o(r.body.status).expirationTimestamp).toBe('2026-01-01T01:00:07Z');
    const token = String(o(r.body.status).token);
    const claims = claimsOf(token);
    const iat = Number(claims.iat);
    expect(claims.exp).toBe(iat + expirationExtensionSeconds);
    expect(o(claims['kubernetes.io']).warnafter).toBe(iat + 3607);
    expect((await review(token)).authenticated).toBe(true);
    server.store.delete(server.store.resource('pods'), 'default', 'web', {
      gracePeriodSeconds: 0,
    });
    expect(await review(token)).toMatchObject({ authenticated: false });
  });

  it('answers errors as the real server: missing ServiceAccount or pod, another uid or ServiceAccount, short expiry', async () => {
    const pod = await createPod('web');
    const uid = String(o(pod.metadata).uid);
    const missing = await tokenRequest('ghost', {});
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('serviceaccounts "ghost" not found');
    const noPod = await tokenRequest('default', {
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'gone', uid },
    });
    expect(noPod.status).toBe(404);
    expect(noPod.body.message).toBe('pods "gone" not found');
    const otherUid = await tokenRequest('default', {
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'other' },
    });
    expect(otherUid.status).toBe(409);
    expect(String(otherUid.body.message)).toContain(
      'the UID in the bound object reference (other) does not match the UID in record',
    );
    server.store.create(server.store.resource('serviceaccounts'), 'default', {
      metadata: { name: 'builder' },
    });
    const otherSa = await tokenRequest('builder', {
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid },
    });
    expect(otherSa.status).toBe(400);
    expect(otherSa.body.message).toBe(
      'cannot bind token for serviceaccount "builder" to pod running with different serviceaccount name.',
    );
    const short = await tokenRequest('default', { expirationSeconds: 599 });
    expect(short.status).toBe(422);
    expect(String(short.body.message)).toContain('may not specify a duration less than 10 minutes');
    const get = await call('GET', '/api/v1/namespaces/default/serviceaccounts/default/token');
    expect(get.status).toBe(405);
  });

  it('admits pods over HTTP: default ServiceAccount, kube-api-access volume and mounts', async () => {
    const pod = await createPod('web', {
      initContainers: [{ name: 'init', image: 'busybox' }],
    });
    const spec = o(pod.spec);
    expect(spec.serviceAccountName).toBe('default');
    const volumes = arr(spec.volumes);
    expect(volumes).toHaveLength(1);
    const name = String(volumes[0]?.name);
    expect(name).toMatch(/^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(volumes[0]?.projected).toEqual({
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [
              {
                path: 'namespace',
                fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
              },
            ],
          },
        },
      ],
      defaultMode: 0o644,
    });
    for (const c of [...arr(spec.initContainers), ...arr(spec.containers)]) {
      expect(arr(c.volumeMounts)).toEqual([
        { name, readOnly: true, mountPath: defaultApiTokenMountPath },
      ]);
    }
  });

  it('does not mount a token when automount is off (pod or ServiceAccount) or the path is taken', async () => {
    const off = await createPod('off', { automountServiceAccountToken: false });
    expect(o(off.spec).volumes).toBeUndefined();
    expect(arr(o(off.spec).containers)[0]?.volumeMounts).toBeUndefined();
    server.store.create(server.store.resource('serviceaccounts'), 'default', {
      metadata: { name: 'quiet' },
      automountServiceAccountToken: false,
      imagePullSecrets: [{ name: 'regcred' }],
    });
    const quiet = await createPod('quiet', { serviceAccountName: 'quiet' });
    expect(o(quiet.spec).volumes).toBeUndefined();
    expect(o(quiet.spec).imagePullSecrets).toEqual([{ name: 'regcred' }]);
    // The pod's true wins over the ServiceAccount's false.
    const on = await createPod('on', {
      serviceAccountName: 'quiet',
      automountServiceAccountToken: true,
    });
    expect(arr(o(on.spec).volumes)).toHaveLength(1);
    const own = await createPod('own', {
      containers: [
        {
          name: 'c',
          image: 'busybox',
          volumeMounts: [{ name: 'mine', mountPath: defaultApiTokenMountPath }],
        },
      ],
      volumes: [{ name: 'mine', emptyDir: {} }],
    });
    expect(arr(o(own.spec).volumes).map((v) => v.name)).toEqual(['mine']);
  });

  it('forbids a pod naming a missing ServiceAccount; the store and mirror pods bypass admission', async () => {
    const r = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'lost' },
      spec: { serviceAccountName: 'ghost', containers: [{ name: 'c', image: 'busybox' }] },
    });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe(
      'pods "lost" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found',
    );
    const mirror = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'mirror', annotations: { 'kubernetes.io/config.mirror': 'x' } },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    expect(mirror.status).toBe(201);
    expect(o(mirror.body.spec).volumes).toBeUndefined();
    const stored = server.store.create(server.store.resource('pods'), 'default', {
      metadata: { name: 'direct' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    expect(o(stored.spec).volumes).toBeUndefined();
  });

  it('can be turned off', async () => {
    await server.stop();
    await start({ serviceAccountAdmission: false });
    const pod = await createPod('plain');
    expect(o(pod.spec).volumes).toBeUndefined();
    expect(o(pod.spec).serviceAccountName).toBeUndefined();
  });
});
