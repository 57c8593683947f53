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

type Body = Record<string, unknown> & {
  spec?: Record<string, unknown>;
  items?: { metadata: { name: string }; spec: Record<string, unknown> }[];
  details?: { causes?: { message: string }[] };
  message?: string;
};

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Body }> {
  const res = await fetch(server.url + path, {
    method,
    ...(body === undefined
      ? {}
      : {
          body: JSON.stringify(body),
          headers: {
            'Content-Type':
              method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
          },
        }),
  });
  return { status: res.status, body: (await res.json()) as Body };
}

const svcPath = '/api/v1/namespaces/default/services';

function service(name: string, spec: Record<string, unknown>): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec };
}

describe('test API server: services', () => {
  it('is discoverable as a namespaced core/v1 resource with the svc short name', async () => {
    const res = await call('GET', '/api/v1');
    const resources = res.body.resources as {
      name: string;
      namespaced: boolean;
      kind: string;
      shortNames?: string[];
      verbs: string[];
    }[];
    const svc = resources.find((r) => r.name === 'services');
    expect(svc).toMatchObject({ namespaced: true, kind: 'Service', shortNames: ['svc'] });
    expect(svc?.verbs).toEqual(
      expect.arrayContaining(['create', 'get', 'list', 'watch', 'delete', 'patch', 'update']),
    );
    expect(resources.some((r) => r.name === 'services/status')).toBe(true);
  });

  it('allocates cluster IPs from 10.96.0.0/16 and defaults ports, type and affinity', async () => {
    const a = await call('POST', svcPath, service('a', { ports: [{ port: 80 }] }));
    expect(a.status).toBe(201);
    expect(a.body.spec).toMatchObject({
      type: 'ClusterIP',
      clusterIP: '10.96.0.2',
      clusterIPs: ['10.96.0.2'],
      sessionAffinity: 'None',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
    const b = await call(
      'POST',
      svcPath,
      service('b', {
        type: 'NodePort',
        ports: [
          { name: 'http', port: 80 },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      }),
    );
    expect(b.body.spec?.clusterIP).toBe('10.96.0.3');
    // The `kubernetes` Service takes the reserved first address when asked for it.
    const k = await call(
      'POST',
      svcPath,
      service('kubernetes', { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] }),
    );
    expect(k.status).toBe(201);
    expect(k.body.spec?.clusterIPs).toEqual(['10.96.0.1']);
    // A deleted Service frees its address.
    expect((await call('DELETE', `${svcPath}/a`)).status).toBe(200);
    const c = await call('POST', svcPath, service('c', { ports: [{ port: 81 }] }));
    expect(c.body.spec?.clusterIP).toBe('10.96.0.2');
  });

  it('gives headless and ExternalName Services no cluster IP', async () => {
    const headless = await call(
      'POST',
      svcPath,
      service('h', { clusterIP: 'None', ports: [{ port: 80 }] }),
    );
    expect(headless.status).toBe(201);
    expect(headless.body.spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'] });
    const ext = await call(
      'POST',
      svcPath,
      service('ext', { type: 'ExternalName', externalName: 'example.com' }),
    );
    expect(ext.status).toBe(201);
    expect(ext.body.spec?.clusterIP).toBeUndefined();
    expect(ext.body.spec?.clusterIPs).toBeUndefined();
  });

  it('rejects taken, out-of-range and changed cluster IPs, and missing ports (422)', async () => {
    await call('POST', svcPath, service('a', { clusterIP: '10.96.1.1', ports: [{ port: 80 }] }));
    const taken = await call(
      'POST',
      svcPath,
      service('b', { clusterIP: '10.96.1.1', ports: [{ port: 80 }] }),
    );
    expect(taken.status).toBe(422);
    expect(taken.body.message).toContain('provided IP is already allocated');
    const outside = await call(
      'POST',
      svcPath,
      service('c', { clusterIP: '10.97.0.1', ports: [{ port: 80 }] }),
    );
    expect(outside.status).toBe(422);
    expect(outside.body.message).toContain('not in the valid range');
    const noPorts = await call('POST', svcPath, service('d', {}));
    expect(noPorts.status).toBe(422);
    const unnamed = await call(
      'POST',
      svcPath,
      service('e', { ports: [{ port: 1 }, { port: 2 }] }),
    );
    expect(unnamed.status).toBe(422);
    const changed = await call('PATCH', `${svcPath}/a`, { spec: { clusterIP: '10.96.1.2' } });
    expect(changed.status).toBe(422);
    expect(changed.body.message).toContain('may not change once set');
  });

  it('keeps the allocated cluster IP across updates that leave it out', async () => {
    const created = await call('POST', svcPath, service('a', { ports: [{ port: 80 }] }));
    const ip = created.body.spec?.clusterIP;
    const got = await call('GET', `${svcPath}/a`);
    const put = await call('PUT', `${svcPath}/a`, {
      ...got.body,
      spec: { ports: [{ port: 8080 }] },
    });
    expect(put.status).toBe(200);
    expect(put.body.spec).toMatchObject({
      clusterIP: ip,
      clusterIPs: [ip],
      ports: [{ port: 8080 }],
    });
    const patched = await call('PATCH', `${svcPath}/a`, { metadata: { labels: { x: 'y' } } });
    expect(patched.status).toBe(200);
    expect(patched.body.spec?.clusterIP).toBe(ip);
  });

  it('lists across namespaces with the kubelet field selector spec.clusterIP!=None', async () => {
    await call('POST', '/api/v1/namespaces', { metadata: { name: 'other' } });
    await call('POST', svcPath, service('a', { ports: [{ port: 80 }] }));
    await call('POST', svcPath, service('h', { clusterIP: 'None', ports: [{ port: 80 }] }));
    await call(
      'POST',
      '/api/v1/namespaces/other/services',
      service('b', { ports: [{ port: 80 }] }),
    );
    const all = await call('GET', '/api/v1/services?fieldSelector=spec.clusterIP%21%3DNone');
    expect(all.status).toBe(200);
    expect(all.body.kind).toBe('ServiceList');
    expect(all.body.items?.map((s) => s.metadata.name).sort()).toEqual(['a', 'b']);
    const byType = await call('GET', '/api/v1/services?fieldSelector=spec.type%3DClusterIP');
    expect(byType.body.items).toHaveLength(3);
    const other = await call('GET', '/api/v1/namespaces/other/services');
    expect(other.body.items?.map((s) => s.metadata.name)).toEqual(['b']);
    const bad = await call('GET', '/api/v1/services?fieldSelector=spec.ports%3D1');
    expect(bad.status).toBe(400);
  });

  it('streams service changes to watchers', async () => {
    const res = await fetch(
      `${server.url}/api/v1/services?watch=true&fieldSelector=spec.clusterIP%21%3DNone`,
    );
    const reader = res.body!.getReader();
    await call('POST', svcPath, service('h', { clusterIP: 'None', ports: [{ port: 80 }] }));
    await call('POST', svcPath, service('a', { ports: [{ port: 80 }] }));
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes('\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    await reader.cancel();
    const first = JSON.parse(text.split('\n')[0]!) as {
      type: string;
      object: { metadata: { name: string } };
    };
    expect(first.type).toBe('ADDED');
    expect(first.object.metadata.name).toBe('a');
  });
});
