import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApiServer, type TestApiServer } from './test-api-server.js';

type Obj = Record<string, unknown> & {
  metadata: Record<string, unknown>;
  spec?: Record<string, unknown> & { ephemeralContainers?: Record<string, unknown>[] };
};

let server: TestApiServer;

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Obj }> {
  const res = await fetch(server.url + path, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'Content-Type': contentType } }),
  });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : {}) as Obj };
}

const podPath = '/api/v1/namespaces/default/pods/web';
const subPath = `${podPath}/ephemeralcontainers`;
const debug = {
  name: 'debugger',
  image: 'busybox:1.36',
  command: ['sh'],
  stdin: true,
  tty: true,
  targetContainerName: 'main',
};

beforeEach(async () => {
  server = await startTestApiServer({ clock: new FakeClock() });
  const created = await call('POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'main', image: 'busybox:1.36' }] },
  });
  expect(created.status).toBe(201);
});

afterEach(async () => {
  await server.stop();
});

describe('pods/ephemeralcontainers', () => {
  it('is listed in discovery with get, patch and update', async () => {
    const v1 = await call('GET', '/api/v1');
    const resources = v1.body.resources as { name: string; verbs: string[] }[];
    expect(resources.find((r) => r.name === 'pods/ephemeralcontainers')?.verbs).toEqual([
      'get',
      'patch',
      'update',
    ]);
  });

  it('GET returns the pod; a strategic merge patch adds a defaulted ephemeral container', async () => {
    const got = await call('GET', subPath);
    expect(got.status).toBe(200);
    expect(got.body.kind).toBe('Pod');
    const patched = await call(
      'PATCH',
      subPath,
      { spec: { ephemeralContainers: [debug] } },
      'application/strategic-merge-patch+json',
    );
    expect(patched.status).toBe(200);
    expect(patched.body.spec?.ephemeralContainers).toEqual([
      {
        ...debug,
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
      },
    ]);
    expect(Number(patched.body.metadata.resourceVersion)).toBeGreaterThan(
      Number(got.body.metadata.resourceVersion),
    );
    const stored = await call('GET', podPath);
    expect(stored.body.spec?.ephemeralContainers?.[0]?.name).toBe('debugger');
  });

  it('PUT may add a second one, and changes nothing but spec.ephemeralContainers', async () => {
    await call(
      'PATCH',
      subPath,
      { spec: { ephemeralContainers: [debug] } },
      'application/strategic-merge-patch+json',
    );
    const current = (await call('GET', subPath)).body;
    const second = { name: 'second', image: 'busybox:1.36' };
    const put = await call('PUT', subPath, {
      ...current,
      metadata: { ...current.metadata, labels: { app: 'changed' } },
      spec: {
        ...current.spec,
        containers: [{ name: 'main', image: 'other:1' }],
        ephemeralContainers: [...(current.spec?.ephemeralContainers ?? []), second],
      },
    });
    expect(put.status).toBe(200);
    expect(put.body.spec?.ephemeralContainers?.map((c) => c.name)).toEqual(['debugger', 'second']);
    expect((put.body.spec?.containers as { image: string }[])[0]?.image).toBe('busybox:1.36');
    expect(put.body.metadata.labels).toEqual({ app: 'web' });
  });

  it('refuses to change or remove an existing ephemeral container (422)', async () => {
    await call(
      'PATCH',
      subPath,
      { spec: { ephemeralContainers: [debug] } },
      'application/strategic-merge-patch+json',
    );
    const changed = await call(
      'PATCH',
      subPath,
      { spec: { ephemeralContainers: [{ ...debug, image: 'busybox:2' }] } },
      'application/merge-patch+json',
    );
    expect(changed.status).toBe(422);
    expect(changed.body.reason).toBe('Invalid');
    expect(changed.body.message).toContain(
      'spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be changed',
    );
    const removed = await call(
      'PATCH',
      subPath,
      { spec: { ephemeralContainers: [] } },
      'application/merge-patch+json',
    );
    expect(removed.status).toBe(422);
    expect(removed.body.message).toContain(
      'existing ephemeral containers "debugger" may not be removed',
    );
    const stored = await call('GET', podPath);
    expect(stored.body.spec?.ephemeralContainers?.map((c) => c.image)).toEqual(['busybox:1.36']);
  });

  it('validates new ephemeral containers: duplicate names, forbidden fields, unknown target', async () => {
    const bad = await call(
      'PATCH',
      subPath,
      {
        spec: {
          ephemeralContainers: [
            { name: 'main', image: 'busybox:1.36' },
            { name: 'p', image: 'busybox:1.36', ports: [{ containerPort: 80 }] },
            { name: 't', image: 'busybox:1.36', targetContainerName: 'nope' },
            { name: 'noimage' },
          ],
        },
      },
      'application/strategic-merge-patch+json',
    );
    expect(bad.status).toBe(422);
    const message = String(bad.body.message);
    expect(message).toContain('spec.ephemeralContainers[0].name: Duplicate value: "main"');
    expect(message).toContain(
      'spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container',
    );
    expect(message).toContain('spec.ephemeralContainers[2].targetContainerName: Not found: "nope"');
    expect(message).toContain('spec.ephemeralContainers[3].image: Required value');
  });

  it('refuses ephemeral containers on create, DELETE/POST on the subresource, and a stale resourceVersion', async () => {
    const create = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'other' },
      spec: { containers: [{ name: 'c', image: 'b' }], ephemeralContainers: [debug] },
    });
    expect(create.status).toBe(422);
    expect(create.body.message).toContain(
      'spec.ephemeralContainers: Forbidden: cannot be set on create',
    );
    expect((await call('DELETE', subPath)).status).toBe(405);
    expect((await call('GET', podPath)).status).toBe(200);
    const current = (await call('GET', subPath)).body;
    await call(
      'PATCH',
      subPath,
      { spec: { ephemeralContainers: [debug] } },
      'application/strategic-merge-patch+json',
    );
    const stale = await call('PUT', subPath, {
      ...current,
      spec: { ...current.spec, ephemeralContainers: [{ name: 'late', image: 'b' }] },
    });
    expect(stale.status).toBe(409);
    expect(
      (
        await call(
          'PATCH',
          '/api/v1/namespaces/default/pods/none/ephemeralcontainers',
          { spec: {} },
          'application/merge-patch+json',
        )
      ).status,
    ).toBe(404);
  });
});
