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
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('test API server: persistentvolumeclaims and persistentvolumes', () => {
  it('are discoverable (namespaced claims, cluster-scoped volumes)', async () => {
    const res = await call('GET', '/api/v1');
    const resources = res.body.resources as { name: string; namespaced: boolean }[];
    expect(resources).toContainEqual(
      expect.objectContaining({ name: 'persistentvolumeclaims', namespaced: true }),
    );
    expect(resources).toContainEqual(
      expect.objectContaining({ name: 'persistentvolumes', namespaced: false }),
    );
  });

  it('creates, reads, binds through the status subresource and deletes', async () => {
    const pvc = await call('POST', '/api/v1/namespaces/default/persistentvolumeclaims', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], volumeName: 'pv-1' },
    });
    expect(pvc.status).toBe(201);
    const pv = await call('POST', '/api/v1/persistentvolumes', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-1' },
      spec: { csi: { driver: 'd.example.com', volumeHandle: 'h1' } },
    });
    expect(pv.status).toBe(201);
    expect((await call('GET', '/api/v1/persistentvolumes/pv-1')).body.spec).toMatchObject({
      csi: { volumeHandle: 'h1' },
    });
    const got = await call('GET', '/api/v1/namespaces/default/persistentvolumeclaims/data');
    const bound = await call(
      'PUT',
      '/api/v1/namespaces/default/persistentvolumeclaims/data/status',
      {
        ...got.body,
        status: { phase: 'Bound' },
      },
    );
    expect(bound.status).toBe(200);
    expect(
      (await call('GET', '/api/v1/namespaces/default/persistentvolumeclaims/data')).body.status,
    ).toEqual({ phase: 'Bound' });
    expect((await call('GET', '/api/v1/namespaces/other/persistentvolumeclaims/data')).status).toBe(
      404,
    );
    expect((await call('DELETE', '/api/v1/persistentvolumes/pv-1')).status).toBe(200);
    expect((await call('GET', '/api/v1/persistentvolumes/pv-1')).status).toBe(404);
  });
});
