import { request } from 'node:http';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startTestApiServer,
  type TestApiServer,
  type TestApiServerOptions,
} from './test-api-server.js';

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> };
interface Reply {
  status: number;
  body: Obj;
  contentType: string;
}

let server: TestApiServer;
let clock: FakeClock;

async function start(options: TestApiServerOptions = {}): Promise<void> {
  clock = new FakeClock();
  server = await startTestApiServer({ clock, ...options });
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Reply> {
  const res = await fetch(server.url + path, {
    method,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'Content-Type': contentType },
        }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Obj,
    contentType: res.headers.get('content-type') ?? '',
  };
}

function pod(name: string, extra: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'busybox:1.36' }] },
    ...extra,
  };
}

/** A watch over real HTTP: collects events and waits for them without sleeping. */
interface WatchStream {
  events: { type: string; object: Obj }[];
  next(count?: number): Promise<{ type: string; object: Obj }[]>;
  ended: Promise<void>;
  close(): void;
}

function openWatch(path: string): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const events: { type: string; object: Obj }[] = [];
    let waiters: (() => void)[] = [];
    let buffer = '';
    let seen = 0;
    let endResolve: () => void = () => undefined;
    const ended = new Promise<void>((r) => (endResolve = r));
    const req = request(server.url + path, (res) => {
      expect(res.statusCode).toBe(200);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let i;
        while ((i = buffer.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, i)) as { type: string; object: Obj });
          buffer = buffer.slice(i + 1);
        }
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      });
      res.on('end', () => endResolve());
      res.on('close', () => endResolve());
      resolve({
        events,
        ended,
        close: () => req.destroy(),
        next: async (count = 1) => {
          while (events.length < seen + count) {
            await new Promise<void>((r) => waiters.push(r));
          }
          const out = events.slice(seen, seen + count);
          seen += count;
          return out;
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('test API server', () => {
  beforeEach(async () => {
    await start();
  });
  afterEach(async () => {
    await server.stop();
  });

  describe('discovery and health', () => {
    it('serves /api, /api/v1, /apis, group resources, /version and health', async () => {
      expect((await call('GET', '/api')).body).toMatchObject({
        kind: 'APIVersions',
        versions: ['v1'],
      });
      const v1 = await call('GET', '/api/v1');
      expect(v1.body.kind).toBe('APIResourceList');
      const names = (v1.body.resources as { name: string }[]).map((r) => r.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'pods',
          'pods/status',
          'nodes',
          'nodes/status',
          'events',
          'configmaps',
          'secrets',
          'namespaces',
        ]),
      );
      expect(v1.body.resources).toContainEqual(
        expect.objectContaining({
          name: 'pods',
          namespaced: true,
          kind: 'Pod',
          shortNames: ['po'],
        }),
      );
      const apis = await call('GET', '/apis');
      expect(apis.body.kind).toBe('APIGroupList');
      expect(apis.body.groups).toEqual([
        expect.objectContaining({
          name: 'coordination.k8s.io',
          preferredVersion: { groupVersion: 'coordination.k8s.io/v1', version: 'v1' },
        }),
        expect.objectContaining({ name: 'authentication.k8s.io' }),
        expect.objectContaining({ name: 'authorization.k8s.io' }),
        expect.objectContaining({ name: 'certificates.k8s.io' }),
        expect.objectContaining({ name: 'node.k8s.io' }),
        expect.objectContaining({
          name: 'storage.k8s.io',
          preferredVersion: { groupVersion: 'storage.k8s.io/v1', version: 'v1' },
        }),
      ]);
      expect(v1.body.resources).toContainEqual(
        expect.objectContaining({ name: 'pods/log', kind: 'Pod', verbs: ['get'] }),
      );
      const certs = await call('GET', '/apis/certificates.k8s.io/v1');
      expect(certs.body.resources).toEqual([
        expect.objectContaining({
          name: 'certificatesigningrequests',
          kind: 'CertificateSigningRequest',
          namespaced: false,
          shortNames: ['csr'],
        }),
        expect.objectContaining({ name: 'certificatesigningrequests/status' }),
        expect.objectContaining({
          name: 'certificatesigningrequests/approval',
          verbs: ['get', 'patch', 'update'],
        }),
      ]);
      const coord = await call('GET', '/apis/coordination.k8s.io/v1');
      expect(coord.body.resources).toEqual([
        expect.objectContaining({ name: 'leases', kind: 'Lease', namespaced: true }),
      ]);
      expect((await call('GET', '/version')).body).toMatchObject({
        major: '1',
        gitVersion: 'v1.33.0',
      });
      for (const p of ['/healthz', '/readyz', '/livez']) {
        const r = await call('GET', p);
        expect([r.status, r.body.text]).toEqual([200, 'ok']);
      }
      const openapi = await call('GET', '/openapi/v2');
      expect(openapi.status).toBe(404);
      expect(openapi.body).toMatchObject({
        kind: 'Status',
        status: 'Failure',
        reason: 'NotFound',
        code: 404,
      });
    });
  });

  describe('create and get', () => {
    it('creates with uid, creationTimestamp, resourceVersion, generation and pod defaults', async () => {
      const rv0 = server.store.resourceVersion;
      const r = await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'p1',
          namespace: 'default',
          resourceVersion: String(rv0 + 1),
          generation: 1,
          creationTimestamp: '2026-01-01T00:00:00Z',
        },
        spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 30 },
        status: { phase: 'Pending' },
      });
      expect(r.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      const got = await call('GET', '/api/v1/namespaces/default/pods/p1');
      expect(got.body).toEqual(r.body);
    });

    it('a negative terminationGracePeriodSeconds becomes 1 on create and on update; a client-set generation is ignored', async () => {
      const p = pod('neg', {
        metadata: { name: 'neg', generation: 100 },
        spec: {
          nodeName: 'node-1',
          terminationGracePeriodSeconds: -1,
          containers: [{ name: 'c', image: 'busybox:1.36' }],
        },
      });
      const created = await call('POST', '/api/v1/namespaces/default/pods', p);
      const spec = (o: Obj): Obj => o.spec as Obj;
      const metadata = (o: Obj): Obj => o.metadata as Obj;
      expect(spec(created.body).terminationGracePeriodSeconds).toBe(1);
      expect(metadata(created.body).generation).toBe(1);
      const updated = await call('PUT', '/api/v1/namespaces/default/pods/neg', {
        ...created.body,
        metadata: { ...metadata(created.body), generation: 7 },
        spec: { ...spec(created.body), terminationGracePeriodSeconds: -5 },
      });
      expect(updated.status).toBe(200);
      expect(spec(updated.body).terminationGracePeriodSeconds).toBe(1);
      expect(metadata(updated.body).generation).toBe(1);
    });

    it('answers 409 AlreadyExists, 404 NotFound, 404 for a missing namespace and 422 for an invalid pod', async () => {
      await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      const dup = await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      expect(dup.status).toBe(409);
      expect(dup.body).toMatchObject({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'AlreadyExists',
        code: 409,
        message: 'pods "p1" already exists',
        details: { name: 'p1', kind: 'pods' },
      });
      const missing = await call('GET', '/api/v1/namespaces/default/pods/nope');
      expect(missing.body).toMatchObject({
        reason: 'NotFound',
        code: 404,
        message: 'pods "nope" not found',
      });
      const noNs = await call('POST', '/api/v1/namespaces/ghost/pods', pod('p1'));
      expect(noNs.body).toMatchObject({ code: 404, message: 'namespaces "ghost" not found' });
      const bad = await call('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'x' },
        spec: {},
      });
      expect(bad.body).toMatchObject({
        code: 422,
        reason: 'Invalid',
        message: 'Pod "x" is invalid: spec.containers: Required value',
      });
      const lease = await call(
        'GET',
        '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n',
      );
      expect(lease.body.message).toBe('leases.coordination.k8s.io "n" not found');
    });

    it('resolves generateName', async () => {
      const r = await call('POST', '/api/v1/namespaces/default/configmaps', {
        metadata: { generateName: 'cm-' },
        data: {},
      });
      expect(r.status).toBe(201);
      expect(r.body.metadata.name).toMatch(/^cm-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    });

    it('serves cluster-scoped nodes and namespaces', async () => {
      expect((await call('POST', '/api/v1/nodes', { metadata: { name: 'node-1' } })).status).toBe(
        201,
      );
      expect((await call('GET', '/api/v1/nodes/node-1')).body.metadata).not.toHaveProperty(
        'namespace',
      );
      const ns = await call('GET', '/api/v1/namespaces/kube-node-lease');
      expect(ns.body).toMatchObject({ kind: 'Namespace', status: { phase: 'Active' } });
    });
  });

  describe('update', () => {
    it('enforces optimistic concurrency and keeps status on the main resource', async () => {
      const created = (await call('POST', '/api/v1/namespaces/default/pods', pod('p1'))).body;
      const updated = {
        ...created,
        metadata: { ...created.metadata, labels: { app: 'db' } },
        status: { phase: 'Running' },
      };
      const ok = await call('PUT', '/api/v1/namespaces/default/pods/p1', updated);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({
        metadata: { labels: { app: 'db' }, generation: 1 },
        status: { phase: 'Pending' },
      });
      expect(Number(ok.body.metadata.resourceVersion)).toBeGreaterThan(
        Number(created.metadata.resourceVersion),
      );
      const stale = await call('PUT', '/api/v1/namespaces/default/pods/p1', updated);
      expect(stale.body).toMatchObject({
        code: 409,
        reason: 'Conflict',
        message:
          'Operation cannot be fulfilled on pods "p1": the object has been modified; please apply your changes to the latest version and try again',
      });
      const spec = { ...(ok.body.spec as object), activeDeadlineSeconds: 10 };
      const bumped = await call('PUT', '/api/v1/namespaces/default/pods/p1', { ...ok.body, spec });
      expect(bumped.body.metadata.generation).toBe(2);
    });

    it('updates only status through the status subresource', async () => {
      const created = (await call('POST', '/api/v1/namespaces/default/pods', pod('p1'))).body;
      const r = await call('PUT', '/api/v1/namespaces/default/pods/p1/status', {
        ...created,
        metadata: { ...created.metadata, labels: { changed: 'yes' } },
        status: { phase: 'Running' },
      });
      expect(r.body).toMatchObject({
        metadata: { labels: { app: 'web' } },
        status: { phase: 'Running' },
      });
      expect((await call('GET', '/api/v1/namespaces/default/configmaps/x/status')).status).toBe(
        404,
      );
    });

    it('rejects a name mismatch, 404s a PUT to a missing pod, and creates a lease on PUT', async () => {
      expect((await call('PUT', '/api/v1/namespaces/default/pods/a', pod('b'))).body).toMatchObject(
        { code: 400, reason: 'BadRequest' },
      );
      expect((await call('PUT', '/api/v1/namespaces/default/pods/a', pod('a'))).status).toBe(404);
      const lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'node-1' },
        spec: { holderIdentity: 'node-1' },
      };
      const r = await call(
        'PUT',
        '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1',
        lease,
      );
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { namespace: 'kube-node-lease' },
      });
    });

    it('answers 415 for a body that is not JSON', async () => {
      const r = await call('POST', '/api/v1/namespaces/default/configmaps', 'a: b', 'text/plain');
      expect(r.body).toMatchObject({ code: 415, reason: 'UnsupportedMediaType' });
    });
  });

  describe('patch', () => {
    it('applies strategic merge patches to pod status like the kubelet sends them', async () => {
      const created = await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      const uid = created.body.metadata.uid as string;
      // The UID in the patch is a precondition: another pod of the same name is not patched.
      const stale = await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1/status',
        { metadata: { uid: 'another-pod' }, status: { phase: 'Failed' } },
        'application/strategic-merge-patch+json',
      );
      expect(stale.status).toBe(409);
      expect(stale.body.message).toContain(
        `Precondition failed: UID in precondition: another-pod, UID in object meta: ${uid}`,
      );
      const r = await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1/status',
        {
          metadata: { uid },
          status: {
            '$setElementOrder/conditions': [{ type: 'Ready' }, { type: 'PodScheduled' }],
            phase: 'Running',
            conditions: [
              { type: 'Ready', status: 'True' },
              { type: 'PodScheduled', status: 'True' },
            ],
            containerStatuses: [{ name: 'c', ready: true, restartCount: 0 }],
          },
        },
        'application/strategic-merge-patch+json',
      );
      expect(r.status).toBe(200);
      expect(r.body.status).toEqual({
        phase: 'Running',
        qosClass: 'BestEffort',
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'PodScheduled', status: 'True' },
        ],
        // As the real server re-encodes it from Go structs: state/lastState are structs,
        // image and imageID have no omitempty.
        containerStatuses: [
          {
            name: 'c',
            ready: true,
            restartCount: 0,
            state: {},
            lastState: {},
            image: '',
            imageID: '',
          },
        ],
      });
      expect(r.body.metadata.uid).toBe(uid);
      const again = await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1/status',
        { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
        'application/strategic-merge-patch+json',
      );
      expect(again.body.status).toMatchObject({
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'PodScheduled', status: 'True' },
        ],
      });
    });

    it('applies merge and JSON patches, checks a patched resourceVersion, and 415s other types', async () => {
      const created = (
        await call('POST', '/api/v1/nodes', { metadata: { name: 'n1', labels: { a: '1' } } })
      ).body;
      const merged = await call(
        'PATCH',
        '/api/v1/nodes/n1',
        { metadata: { labels: { a: null, b: '2' } } },
        'application/merge-patch+json',
      );
      expect(merged.body.metadata.labels).toEqual({ b: '2' });
      const json = await call(
        'PATCH',
        '/api/v1/nodes/n1',
        [{ op: 'add', path: '/spec', value: { unschedulable: true } }],
        'application/json-patch+json',
      );
      expect(json.body.spec).toEqual({ unschedulable: true });
      const stale = await call(
        'PATCH',
        '/api/v1/nodes/n1',
        { metadata: { resourceVersion: created.metadata.resourceVersion, labels: { c: '3' } } },
        'application/merge-patch+json',
      );
      expect(stale.body).toMatchObject({ code: 409, reason: 'Conflict' });
      const apply = await call(
        'PATCH',
        '/api/v1/nodes/n1',
        'metadata: {}',
        'application/apply-patch+yaml',
      );
      expect(apply.body).toMatchObject({ code: 415, reason: 'UnsupportedMediaType' });
      const plain = await call('PATCH', '/api/v1/nodes/n1', {}, 'application/json');
      expect(plain.status).toBe(415);
    });
  });

  describe('delete', () => {
    it('deletes a bound pod gracefully, then for good with grace 0', async () => {
      await call(
        'POST',
        '/api/v1/namespaces/default/pods',
        pod('p1', { spec: { ...(pod('p1').spec as object), terminationGracePeriodSeconds: 12 } }),
      );
      const first = await call('DELETE', '/api/v1/namespaces/default/pods/p1');
      expect(first.status).toBe(200);
      expect(first.body.metadata).toMatchObject({
        deletionTimestamp: '2026-01-01T00:00:12Z',
        deletionGracePeriodSeconds: 12,
        generation: 2,
      });
      expect((await call('GET', '/api/v1/namespaces/default/pods/p1')).status).toBe(200);
      const shorter = await call('DELETE', '/api/v1/namespaces/default/pods/p1', {
        gracePeriodSeconds: 5,
      });
      expect(shorter.body.metadata.deletionGracePeriodSeconds).toBe(5);
      const final = await call('DELETE', '/api/v1/namespaces/default/pods/p1?gracePeriodSeconds=0');
      expect(final.status).toBe(200);
      expect((await call('GET', '/api/v1/namespaces/default/pods/p1')).status).toBe(404);
    });

    it('deletes unbound pods, other kinds and namespaces at once; honours a uid precondition', async () => {
      await call(
        'POST',
        '/api/v1/namespaces/default/pods',
        pod('p1', { spec: { containers: [{ name: 'c', image: 'i' }] } }),
      );
      await call('DELETE', '/api/v1/namespaces/default/pods/p1');
      expect((await call('GET', '/api/v1/namespaces/default/pods/p1')).status).toBe(404);
      await call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'cm' } });
      const pre = await call('DELETE', '/api/v1/namespaces/default/configmaps/cm', {
        preconditions: { uid: 'other' },
      });
      expect(pre.body).toMatchObject({ code: 409, reason: 'Conflict' });
      await call('DELETE', '/api/v1/namespaces/default/configmaps/cm');
      expect((await call('GET', '/api/v1/namespaces/default/configmaps/cm')).status).toBe(404);
      await call('POST', '/api/v1/namespaces', { metadata: { name: 'tmp' } });
      await call('POST', '/api/v1/namespaces/tmp/secrets', {
        metadata: { name: 's' },
        type: 'Opaque',
      });
      await call('DELETE', '/api/v1/namespaces/tmp');
      expect(server.store.list(server.store.resource('secrets'), 'tmp')).toEqual([]);
    });

    it('keeps an object with finalizers until the last one is removed', async () => {
      await call('POST', '/api/v1/namespaces/default/configmaps', {
        metadata: { name: 'cm', finalizers: ['x/y'] },
      });
      const marked = await call('DELETE', '/api/v1/namespaces/default/configmaps/cm');
      expect(marked.body.metadata.deletionTimestamp).toBeDefined();
      await call(
        'PATCH',
        '/api/v1/namespaces/default/configmaps/cm',
        { metadata: { finalizers: null } },
        'application/merge-patch+json',
      );
      expect((await call('GET', '/api/v1/namespaces/default/configmaps/cm')).status).toBe(404);
    });
  });

  describe('list', () => {
    beforeEach(async () => {
      for (const [name, node, app] of [
        ['a', 'node-1', 'web'],
        ['b', 'node-2', 'web'],
        ['c', 'node-1', 'db'],
        ['d', 'node-1', 'cache'],
      ] as const) {
        const p = pod(name);
        p.metadata.labels = { app };
        (p.spec as { nodeName: string }).nodeName = node;
        await call('POST', '/api/v1/namespaces/default/pods', p);
      }
      await call('POST', '/api/v1/namespaces/kube-system/pods', pod('e'));
    });

    const names = (r: Reply): string[] =>
      (r.body.items as Obj[]).map((i) => i.metadata.name as string);

    it('lists across and within namespaces with list kind, resourceVersion and items without kind', async () => {
      const all = await call('GET', '/api/v1/pods');
      expect(all.body).toMatchObject({
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(server.store.resourceVersion) },
      });
      expect(names(all)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect((all.body.items as Obj[])[0]).not.toHaveProperty('kind');
      expect(names(await call('GET', '/api/v1/namespaces/kube-system/pods'))).toEqual(['e']);
    });

    it('filters by label and field selectors', async () => {
      const q = async (s: string): Promise<string[]> =>
        names(await call('GET', `/api/v1/pods?${s}`));
      expect(await q('labelSelector=app%3Dweb')).toEqual(['a', 'b', 'e']);
      expect(await q('labelSelector=app%3D%3Dweb')).toEqual(['a', 'b', 'e']);
      expect(await q('labelSelector=app!%3Dweb')).toEqual(['c', 'd']);
      expect(await q('labelSelector=app+in+(db,cache)')).toEqual(['c', 'd']);
      expect(await q('labelSelector=app+notin+(db,web)')).toEqual(['d']);
      expect(await q('labelSelector=app')).toHaveLength(5);
      expect(await q('labelSelector=!app')).toEqual([]);
      expect(await q('fieldSelector=spec.nodeName%3Dnode-1')).toEqual(['a', 'c', 'd', 'e']);
      expect(await q('fieldSelector=metadata.namespace%3Dkube-system')).toEqual(['e']);
      expect(await q('fieldSelector=metadata.name%3Dc')).toEqual(['c']);
      expect(
        await q(
          'fieldSelector=spec.nodeName%3Dnode-1,metadata.namespace!%3Dkube-system&labelSelector=app!%3Dcache',
        ),
      ).toEqual(['a', 'c']);
      const bad = await call('GET', '/api/v1/pods?fieldSelector=spec.bogus%3D1');
      expect(bad.body).toMatchObject({
        code: 400,
        message: 'field label not supported: spec.bogus',
      });
    });

    it('pages with limit/continue at a consistent resourceVersion', async () => {
      const p1 = await call('GET', '/api/v1/pods?limit=2');
      expect(names(p1)).toEqual(['a', 'b']);
      expect(p1.body.metadata.remainingItemCount).toBe(3);
      const token = p1.body.metadata.continue as string;
      await call('DELETE', '/api/v1/namespaces/default/pods/c?gracePeriodSeconds=0');
      const p2 = await call('GET', `/api/v1/pods?limit=2&continue=${token}`);
      expect(names(p2)).toEqual(['c', 'd']);
      expect(p2.body.metadata.resourceVersion).toBe(p1.body.metadata.resourceVersion);
      const p3 = await call(
        'GET',
        `/api/v1/pods?limit=2&continue=${p2.body.metadata.continue as string}`,
      );
      expect(names(p3)).toEqual(['e']);
      expect(p3.body.metadata).not.toHaveProperty('continue');
      server.store.compact();
      expect((await call('GET', `/api/v1/pods?limit=2&continue=${token}`)).body).toMatchObject({
        code: 410,
        reason: 'Expired',
      });
    });

    it('lists at an exact resourceVersion and answers 410 when it is too old', async () => {
      const before = String(server.store.resourceVersion);
      await call('DELETE', '/api/v1/namespaces/default/pods/a?gracePeriodSeconds=0');
      expect(
        names(
          await call(
            'GET',
            `/api/v1/namespaces/default/pods?resourceVersion=${before}&resourceVersionMatch=Exact`,
          ),
        ),
      ).toEqual(['a', 'b', 'c', 'd']);
      expect(
        names(await call('GET', `/api/v1/namespaces/default/pods?resourceVersion=${before}`)),
      ).toEqual(['b', 'c', 'd']);
      server.store.compact();
      const gone = await call(
        'GET',
        `/api/v1/namespaces/default/pods?resourceVersion=${before}&resourceVersionMatch=Exact`,
      );
      expect(gone.body).toMatchObject({ code: 410, reason: 'Expired' });
    });
  });

  describe('watch', () => {
    it('streams ADDED for existing objects, then ADDED/MODIFIED/DELETED as they happen', async () => {
      await call('POST', '/api/v1/namespaces/default/pods', pod('p0'));
      const w = await openWatch('/api/v1/namespaces/default/pods?watch=true');
      expect((await w.next())[0]).toMatchObject({
        type: 'ADDED',
        object: { kind: 'Pod', metadata: { name: 'p0' } },
      });
      await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1/status',
        { status: { phase: 'Running' } },
        'application/merge-patch+json',
      );
      await call('DELETE', '/api/v1/namespaces/default/pods/p1?gracePeriodSeconds=0');
      await call('POST', '/api/v1/namespaces/kube-system/pods', pod('other'));
      const evs = await w.next(3);
      expect(evs.map((e) => [e.type, e.object.metadata.name])).toEqual([
        ['ADDED', 'p1'],
        ['MODIFIED', 'p1'],
        ['DELETED', 'p1'],
      ]);
      expect(evs[1]?.object.status).toEqual({ phase: 'Running', qosClass: 'BestEffort' });
      expect(server.requests.filter((r) => r.verb === 'watch')).toHaveLength(1);
      w.close();
      await w.ended;
    });

    it('replays from a resourceVersion and turns selector transitions into ADDED/DELETED', async () => {
      const created = (await call('POST', '/api/v1/namespaces/default/pods', pod('p1'))).body;
      const rv = created.metadata.resourceVersion as string;
      await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1',
        { metadata: { labels: { app: 'db' } } },
        'application/merge-patch+json',
      );
      const w = await openWatch(
        `/api/v1/pods?watch=1&labelSelector=app%3Dweb&resourceVersion=${rv}`,
      );
      expect((await w.next())[0]).toMatchObject({
        type: 'DELETED',
        object: { metadata: { labels: { app: 'db' } } },
      });
      await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1',
        { metadata: { labels: { app: 'web' } } },
        'application/merge-patch+json',
      );
      expect((await w.next())[0]?.type).toBe('ADDED');
      w.close();
    });

    it('sends an ERROR event with a 410 Expired Status for a too-old resourceVersion', async () => {
      await server.stop();
      await start({ historySize: 2 });
      for (const n of ['a', 'b', 'c'])
        await call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: n } });
      const w = await openWatch(
        '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1',
      );
      await w.ended;
      expect(w.events).toEqual([
        {
          type: 'ERROR',
          object: expect.objectContaining({
            kind: 'Status',
            status: 'Failure',
            reason: 'Expired',
            code: 410,
          }) as unknown,
        },
      ]);
      const ok = await openWatch(
        `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${server.store.resourceVersion - 1}`,
      );
      expect((await ok.next())[0]).toMatchObject({
        type: 'ADDED',
        object: { metadata: { name: 'c' } },
      });
      ok.close();
    });

    it('sends bookmarks when asked and ends at timeoutSeconds', async () => {
      const w = await openWatch(
        '/api/v1/nodes?watch=true&allowWatchBookmarks=true&timeoutSeconds=150',
      );
      await call('POST', '/api/v1/nodes', { metadata: { name: 'n1' } });
      await w.next();
      await clock.advance(60_000);
      const [bookmark] = await w.next();
      expect(bookmark).toEqual({
        type: 'BOOKMARK',
        object: {
          kind: 'Node',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(server.store.resourceVersion) },
        },
      });
      expect(server.openWatches).toBe(1);
      await clock.advance(90_000);
      await w.ended;
      expect(server.openWatches).toBe(0);
      expect(w.events.filter((e) => e.type === 'BOOKMARK')).toHaveLength(2);
    });

    it('sends no bookmarks unless asked, and stop() closes open watches', async () => {
      const w = await openWatch('/apis/coordination.k8s.io/v1/leases?watch=true');
      await clock.advance(120_000);
      await call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        metadata: { name: 'n1' },
      });
      expect((await w.next())[0]?.type).toBe('ADDED');
      await server.stop();
      await w.ended;
      expect(w.events).toHaveLength(1);
      await start();
    });
  });

  describe('kubectl compatibility', () => {
    const tableAccept =
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

    it('answers list, get and watch with a Table when asked, like server-side printing', async () => {
      await call('POST', '/api/v1/nodes', {
        metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/worker': '' } },
        status: {
          conditions: [{ type: 'Ready', status: 'True' }],
          nodeInfo: { kubeletVersion: 'v1.33.0' },
        },
      });
      await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      await call(
        'PATCH',
        '/api/v1/namespaces/default/pods/p1/status',
        {
          status: {
            phase: 'Running',
            podIP: '10.1.0.5',
            containerStatuses: [
              {
                name: 'c',
                ready: false,
                restartCount: 4,
                state: { waiting: { reason: 'CrashLoopBackOff' } },
              },
            ],
          },
        },
        'application/strategic-merge-patch+json',
      );
      await clock.advance(150_000);
      const res = await fetch(`${server.url}/api/v1/namespaces/default/pods?limit=500`, {
        headers: { Accept: tableAccept },
      });
      const table = (await res.json()) as {
        kind: string;
        columnDefinitions: { name: string; priority: number }[];
        rows: { cells: unknown[]; object: Obj }[];
      };
      expect(table.kind).toBe('Table');
      expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual([
        'Name',
        'Ready',
        'Status',
        'Restarts',
        'Age',
      ]);
      expect(table.rows[0]?.cells).toEqual([
        'p1',
        '0/1',
        'CrashLoopBackOff',
        '4',
        '2m30s',
        '10.1.0.5',
        'node-1',
        '<none>',
        '<none>',
      ]);
      expect(table.rows[0]?.object).toMatchObject({
        kind: 'PartialObjectMetadata',
        metadata: { name: 'p1' },
      });
      const nodes = await fetch(`${server.url}/api/v1/nodes/n1?includeObject=Object`, {
        headers: { Accept: tableAccept },
      });
      const nodeTable = (await nodes.json()) as { rows: { cells: unknown[]; object: Obj }[] };
      expect(nodeTable.rows[0]?.cells.slice(0, 5)).toEqual([
        'n1',
        'Ready',
        'worker',
        '2m30s',
        'v1.33.0',
      ]);
      expect(nodeTable.rows[0]?.object.kind).toBe('Node');
    });

    it('watches a single object by its path and sends the initial-events-end bookmark for sendInitialEvents', async () => {
      await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
      await call('POST', '/api/v1/namespaces/default/pods', pod('p2'));
      const named = await openWatch('/api/v1/namespaces/default/pods/p2?watch=true');
      expect((await named.next())[0]).toMatchObject({
        type: 'ADDED',
        object: { metadata: { name: 'p2' } },
      });
      const list = await openWatch(
        '/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan',
      );
      const initial = await list.next(3);
      expect(initial.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'BOOKMARK']);
      expect(initial[2]?.object.metadata).toEqual({
        resourceVersion: String(server.store.resourceVersion),
        annotations: { 'k8s.io/initial-events-end': 'true' },
      });
      await call('DELETE', '/api/v1/namespaces/default/pods/p1?gracePeriodSeconds=0');
      expect((await list.next())[0]).toMatchObject({
        type: 'DELETED',
        object: { metadata: { name: 'p1' } },
      });
      expect(named.events).toHaveLength(1);
      named.close();
      list.close();
    });

    it('computes the pod QoS class, ignores a submitted pod status and folds secret stringData into data', async () => {
      const guaranteed = pod('g', {
        spec: {
          containers: [
            { name: 'c', image: 'i', resources: { limits: { cpu: '500m', memory: '64Mi' } } },
          ],
        },
        status: { phase: 'Running' },
      });
      expect(
        (await call('POST', '/api/v1/namespaces/default/pods', guaranteed)).body.status,
      ).toEqual({
        phase: 'Pending',
        qosClass: 'Guaranteed',
      });
      const burstable = pod('b', {
        spec: {
          containers: [
            {
              name: 'c',
              image: 'i',
              resources: { requests: { cpu: '0.5' }, limits: { cpu: '1' } },
            },
          ],
        },
      });
      expect(
        (await call('POST', '/api/v1/namespaces/default/pods', burstable)).body.status,
      ).toMatchObject({
        qosClass: 'Burstable',
      });
      const secret = await call('POST', '/api/v1/namespaces/default/secrets', {
        metadata: { name: 's' },
        stringData: { password: 'hunter2' },
      });
      expect(secret.body).toMatchObject({ type: 'Opaque', data: { password: 'aHVudGVyMg==' } });
      expect(secret.body).not.toHaveProperty('stringData');
    });
  });

  it('records every request with method, path, verb, content type and status', async () => {
    await call('POST', '/api/v1/namespaces/default/pods', pod('p1'));
    await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/p1/status',
      { status: {} },
      'application/strategic-merge-patch+json',
    );
    await call('GET', '/api/v1/pods?limit=1');
    await call('GET', '/version');
    expect(server.requests.map((r) => ({ ...r, userAgent: undefined }))).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: '/api/v1/namespaces/default/pods',
        verb: 'create',
        resource: 'pods',
        namespace: 'default',
        contentType: 'application/json',
        status: 201,
      }),
      expect.objectContaining({
        method: 'PATCH',
        verb: 'patch',
        subresource: 'status',
        name: 'p1',
        contentType: 'application/strategic-merge-patch+json',
        status: 200,
      }),
      expect.objectContaining({ method: 'GET', verb: 'list', query: 'limit=1', status: 200 }),
      expect.objectContaining({ method: 'GET', path: '/version', verb: '', status: 200 }),
    ]);
  });
});
