import { KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
// The generated clients' own serializer (the package root exports a different wrapper).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiCallError, rawApiCall } from './api-call.js';
import { createKubeApi, type KubeApi } from './kube-api.js';

let server: TestApiServer;
let api: KubeApi;

beforeEach(async () => {
  const clock = new FakeClock();
  server = await startTestApiServer({ clock, tls: true });
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
    ),
  );
  api = createKubeApi(kc, { clock, qps: 0, userAgent: 'nodeagent-test/1' });
  server.store.create(server.store.resource('pods'), 'default', {
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  api.close();
  await server.stop();
});

/** Calls of ObjectSerializer.deserialize whose data is not null: typed models built. */
function typedModelsBuilt(spy: { mock: { calls: unknown[][] } }): unknown[] {
  return spy.mock.calls.filter((c) => c[0] !== null && c[0] !== undefined).map((c) => c[1]);
}

describe('rawApiCall', () => {
  it('resolves with the raw JSON of a read, without building the typed model, through the same middleware', async () => {
    const deserialize = vi.spyOn(ObjectSerializer, 'deserialize');
    let typedResult: unknown = 'unset';
    const pod = (await rawApiCall(async (o) => {
      typedResult = await api.core.readNamespacedPod({ name: 'web', namespace: 'default' }, o);
      return typedResult;
    })) as { metadata: { name: string; creationTimestamp: unknown; labels: unknown } };
    expect(pod.metadata.name).toBe('web');
    expect(pod.metadata.labels).toEqual({ app: 'web' });
    // The API server's JSON: timestamps stay RFC 3339 strings.
    expect(typeof pod.metadata.creationTimestamp).toBe('string');
    // The typed call saw an empty body: no V1Pod (with Date objects) was built.
    expect(typedResult).toBeNull();
    expect(typedModelsBuilt(deserialize)).toEqual([]);
    // It went through the KubeApi middleware like any typed call.
    const req = server.requests.at(-1);
    expect(req).toMatchObject({ verb: 'get', resource: 'pods', name: 'web' });
  });

  it('returns the raw JSON of a strategic merge patch, with the call’s own header options merged', async () => {
    const deserialize = vi.spyOn(ObjectSerializer, 'deserialize');
    const patched = (await rawApiCall((o) =>
      api.core.patchNamespacedPodStatus(
        { name: 'web', namespace: 'default', body: { status: { phase: 'Running' } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, o),
      ),
    )) as { status: { phase: string } };
    expect(patched.status.phase).toBe('Running');
    expect(typedModelsBuilt(deserialize)).toEqual([]);
    expect(server.requests.at(-1)).toMatchObject({
      verb: 'patch',
      subresource: 'status',
      name: 'web',
    });
  });

  it('rejects with KubeApiCallError carrying the HTTP code and the Status reason', async () => {
    const err = await rawApiCall((o) =>
      api.core.readNamespacedPod({ name: 'missing', namespace: 'default' }, o),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiCallError);
    const failure = (err as KubeApiCallError).failure;
    expect(failure.code).toBe(404);
    expect(failure.reason).toBe('NotFound');
    expect(failure.message).toContain('HTTP 404');
  });

  it('a conflict (precondition failed) is a 409 KubeApiCallError', async () => {
    const err = await rawApiCall((o) =>
      api.core.patchNamespacedPodStatus(
        {
          name: 'web',
          namespace: 'default',
          body: { metadata: { uid: 'not-the-uid' }, status: { phase: 'Running' } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, o),
      ),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiCallError);
    expect((err as KubeApiCallError).failure.code).toBe(409);
  });
});
