import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApiServer, type TestApiServer } from './test-api-server.js';

let server: TestApiServer;

beforeEach(async () => {
  server = await startTestApiServer({ clock: new FakeClock() });
});
afterEach(async () => {
  await server.stop();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'Content-Type': contentType } }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const base = '/apis/storage.k8s.io/v1/csinodes';

describe('test API server: storage.k8s.io/v1 csinodes', () => {
  it('is discoverable as a cluster-scoped resource', async () => {
    const res = await call('GET', '/apis/storage.k8s.io/v1');
    expect(res.status).toBe(200);
    const resources = res.body.resources as { name: string; namespaced: boolean; kind: string }[];
    expect(resources).toContainEqual(
      expect.objectContaining({ name: 'csinodes', namespaced: false, kind: 'CSINode' }),
    );
  });

  it('creates, reads, updates, merge-patches, lists and deletes a CSINode', async () => {
    const created = await call('POST', base, {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'CSINode',
      metadata: { name: 'node-1' },
      spec: {
        drivers: [{ name: 'a.csi.test', nodeID: 'n1', topologyKeys: ['zone'] }],
      },
    });
    expect(created.status).toBe(201);
    const got = await call('GET', `${base}/node-1`);
    expect(got.status).toBe(200);
    expect(got.body.spec).toEqual({
      drivers: [{ name: 'a.csi.test', nodeID: 'n1', topologyKeys: ['zone'] }],
    });
    const put = await call('PUT', `${base}/node-1`, {
      ...got.body,
      spec: { drivers: [{ name: 'b.csi.test', nodeID: 'n2', allocatable: { count: 3 } }] },
    });
    expect(put.status).toBe(200);
    // A stale resourceVersion conflicts.
    const stale = await call('PUT', `${base}/node-1`, got.body);
    expect(stale.status).toBe(409);
    const patched = await call(
      'PATCH',
      `${base}/node-1`,
      { metadata: { labels: { x: 'y' } } },
      'application/merge-patch+json',
    );
    expect(patched.status).toBe(200);
    expect((patched.body.metadata as { labels: unknown }).labels).toEqual({ x: 'y' });
    const list = await call('GET', base);
    expect(list.body.kind).toBe('CSINodeList');
    expect((list.body.items as unknown[]).length).toBe(1);
    expect((await call('DELETE', `${base}/node-1`)).status).toBe(200);
    expect((await call('GET', `${base}/node-1`)).status).toBe(404);
  });
});
