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

const base = '/apis/node.k8s.io/v1/runtimeclasses';

const runtimeClass = (name: string, handler: string): Record<string, unknown> => ({
  apiVersion: 'node.k8s.io/v1',
  kind: 'RuntimeClass',
  metadata: { name, labels: { test: 'rc' } },
  handler,
});

// Mirrors the kubelet e2e conformance case "RuntimeClass should support RuntimeClasses
// API operations" (discovery, create, 409, get, list by label, patch, delete, deletecollection).
describe('test API server: node.k8s.io/v1 runtimeclasses', () => {
  it('is discoverable under /apis, /apis/node.k8s.io and /apis/node.k8s.io/v1 (cluster-scoped)', async () => {
    const groups = await call('GET', '/apis');
    expect(JSON.stringify(groups.body)).toContain('node.k8s.io/v1');
    const group = await call('GET', '/apis/node.k8s.io');
    expect(group.status).toBe(200);
    expect(JSON.stringify(group.body.versions)).toContain('"v1"');
    const res = await call('GET', '/apis/node.k8s.io/v1');
    expect(res.status).toBe(200);
    const resources = res.body.resources as { name: string; namespaced: boolean; kind: string }[];
    expect(resources).toContainEqual(
      expect.objectContaining({ name: 'runtimeclasses', namespaced: false, kind: 'RuntimeClass' }),
    );
  });

  it('creates (409 on a duplicate), gets, lists, patches, deletes and deletes a collection', async () => {
    expect((await call('POST', base, runtimeClass('rc-1', 'h1'))).status).toBe(201);
    expect((await call('POST', base, runtimeClass('rc-1', 'h1'))).status).toBe(409);
    expect((await call('POST', base, runtimeClass('rc-2', 'h2'))).status).toBe(201);
    const got = await call('GET', `${base}/rc-1`);
    expect(got.status).toBe(200);
    expect(got.body.handler).toBe('h1');
    const patched = await call(
      'PATCH',
      `${base}/rc-1`,
      { metadata: { annotations: { patched: 'true' } } },
      'application/merge-patch+json',
    );
    expect((patched.body.metadata as { annotations: unknown }).annotations).toEqual({
      patched: 'true',
    });
    const list = await call('GET', `${base}?labelSelector=test%3Drc`);
    expect(list.body.kind).toBe('RuntimeClassList');
    expect((list.body.items as unknown[]).length).toBe(2);
    expect((await call('DELETE', `${base}/rc-1`)).status).toBe(200);
    expect((await call('GET', `${base}/rc-1`)).status).toBe(404);
    expect((await call('DELETE', `${base}?labelSelector=test%3Drc`)).status).toBe(200);
    const empty = await call('GET', base);
    expect(empty.body.items).toEqual([]);
  });
});
