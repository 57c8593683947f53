import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiRuntimeClassLookup, type RuntimeClassApiConfig } from './runtime-classes.js';

let server: TestApiServer;
let config: RuntimeClassApiConfig;

beforeEach(async () => {
  server = await startTestApiServer({ clock: new FakeClock() });
  config = {
    getCurrentCluster: () => ({ server: server.url }),
    applyToHTTPSOptions: () => Promise.resolve(),
  };
  const rcs = server.store.resource('runtimeclasses', 'node.k8s.io');
  server.store.create(rcs, '', {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: 'kata' },
    handler: 'kata-qemu',
  });
});
afterEach(async () => {
  await server.stop();
});

describe('ApiRuntimeClassLookup (kubelet runtimeclass.Manager.LookupRuntimeHandler)', () => {
  it('resolves a RuntimeClass to its handler', async () => {
    await expect(new ApiRuntimeClassLookup(config).lookupRuntimeHandler('kata')).resolves.toBe(
      'kata-qemu',
    );
  });

  it('the empty name is the default handler, without asking the API server', async () => {
    const before = server.requests.length;
    await expect(new ApiRuntimeClassLookup(config).lookupRuntimeHandler('')).resolves.toBe('');
    expect(server.requests.length).toBe(before);
  });

  it('a missing RuntimeClass is the NotFound error the kubelet reports', async () => {
    await expect(new ApiRuntimeClassLookup(config).lookupRuntimeHandler('gone')).rejects.toThrow(
      /^runtimeclass\.node\.k8s\.io "gone" not found$/,
    );
  });

  it('a failing API server: failed to lookup RuntimeClass <name>: <cause>', async () => {
    server.faults.failRequests({ code: 500 });
    await expect(new ApiRuntimeClassLookup(config).lookupRuntimeHandler('kata')).rejects.toThrow(
      'failed to lookup RuntimeClass kata: HTTP 500',
    );
  });
});
