import { mkdtempSync, rmSync, statSync, writeFileSync, linkSync, existsSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isNodeAgentError, type k8s } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PodResourcesClient } from './client.js';
import { PodResourcesServer, type PodResourcesServerOptions } from './server.js';
import { podResourcesSocketPath } from './socket-path.js';

const pod = (ns: string, name: string, spec: Partial<k8s.PodSpec> = {}): k8s.Pod => ({
  metadata: { name, namespace: ns, uid: `uid-${ns}-${name}` },
  spec: { containers: [{ name: 'app', image: 'busybox' }], ...spec },
});

let dir: string;
let socket: string;
let pods: k8s.Pod[];
let clock: FakeClock;
const toClose: Array<{ stop?: () => Promise<void>; close?: () => void }> = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podres-'));
  socket = podResourcesSocketPath(join(dir, 'root'));
  clock = new FakeClock();
  pods = [
    pod('default', 'web', {
      initContainers: [
        { name: 'init', image: 'busybox' },
        { name: 'sidecar', image: 'busybox', restartPolicy: 'Always' },
      ],
      containers: [
        { name: 'main', image: 'busybox' },
        { name: 'helper', image: 'busybox' },
      ],
    }),
    pod('kube-system', 'dns'),
  ];
});

afterEach(async () => {
  for (const x of toClose.splice(0).reverse()) {
    x.close?.();
    await x.stop?.();
  }
  rmSync(dir, { recursive: true, force: true });
});

async function serve(extra: Partial<PodResourcesServerOptions> = {}): Promise<PodResourcesServer> {
  const server = new PodResourcesServer({
    socketPath: socket,
    activePods: () => pods,
    clock,
    ...extra,
  });
  toClose.push(server);
  await server.start();
  return server;
}

function client(): PodResourcesClient {
  const c = new PodResourcesClient({ socket: `unix://${socket}` });
  toClose.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

describe('PodResourcesServer over its unix socket', () => {
  it('serves List: every active pod, sidecars then app containers, empty resource lists', async () => {
    await serve();
    const res = await client().list();
    expect(res.podResources).toEqual([
      {
        name: 'web',
        namespace: 'default',
        containers: ['sidecar', 'main', 'helper'].map((name) => ({
          name,
          devices: [],
          cpuIds: [],
          memory: [],
          dynamicResources: [],
        })),
        cpuIds: [],
        memory: [],
      },
      {
        name: 'dns',
        namespace: 'kube-system',
        containers: [{ name: 'app', devices: [], cpuIds: [], memory: [], dynamicResources: [] }],
        cpuIds: [],
        memory: [],
      },
    ]);
    // The provider is asked on every call: a removed pod is gone at once.
    pods = pods.slice(1);
    expect((await client().list()).podResources.map((p) => p.name)).toEqual(['dns']);
  });

  it('serves GetAllocatableResources with empty lists', async () => {
    await serve();
    expect(await client().getAllocatableResources()).toEqual({
      devices: [],
      cpuIds: [],
      memory: [],
    });
  });

  it('serves Get by namespace and name; a missing pod fails as the kubelet words it (gRPC UNKNOWN)', async () => {
    await serve();
    const c = client();
    const res = await c.get({ podName: 'web', podNamespace: 'default' });
    expect(res.podResources?.containers.map((x) => x.name)).toEqual(['sidecar', 'main', 'helper']);
    const err = await rejection(c.get({ podName: 'web', podNamespace: 'other' }));
    expect(isNodeAgentError(err, ErrorCode.Unknown)).toBe(true);
    expect((err as { detail: string }).detail).toBe('pod web in namespace other not found');
    expect((err as { operation: string }).operation).toBe('PodResourcesLister/Get');
  });

  it('Get uses getPodByName when given (kubelet pod manager lookup)', async () => {
    const other = pod('default', 'finished');
    await serve({
      getPodByName: (ns, name) => (ns === 'default' && name === 'finished' ? other : undefined),
    });
    const res = await client().get({ podName: 'finished', podNamespace: 'default' });
    expect(res.podResources?.name).toBe('finished');
    expect(
      await rejection(client().get({ podName: 'web', podNamespace: 'default' })),
    ).toMatchObject({
      detail: 'pod web in namespace default not found',
    });
  });

  it('Get fails with the kubelet message when the KubeletPodResourcesGet gate is off', async () => {
    await serve({ podResourcesGet: false });
    const err = await rejection(client().get({ podName: 'web', podNamespace: 'default' }));
    expect(err).toMatchObject({
      code: ErrorCode.Unknown,
      detail: 'PodResources API Get method disabled',
    });
  });

  it('rate limits every method together: burst 10, then RESOURCE_EXHAUSTED "rejected by rate limit" until tokens refill', async () => {
    await serve();
    const c = client();
    for (let i = 0; i < 10; i++) {
      if (i % 3 === 0) await c.list();
      else if (i % 3 === 1) await c.getAllocatableResources();
      else await c.get({ podName: 'dns', podNamespace: 'kube-system' });
    }
    const err = await rejection(c.list());
    expect(err).toMatchObject({
      code: ErrorCode.ResourceExhausted,
      detail: 'rejected by rate limit',
    });
    await clock.advance(10); // 100 qps: one token per 10 ms
    await expect(c.list()).resolves.toBeDefined();
    expect(await rejection(c.get({ podName: 'dns', podNamespace: 'kube-system' }))).toMatchObject({
      code: ErrorCode.ResourceExhausted,
    });
  });

  it('honours custom qps/burst', async () => {
    await serve({ qps: 1, burst: 2 });
    const c = client();
    await c.list();
    await c.list();
    expect(await rejection(c.list())).toMatchObject({ code: ErrorCode.ResourceExhausted });
    await clock.advance(999);
    expect(await rejection(c.list())).toMatchObject({ code: ErrorCode.ResourceExhausted });
    await clock.advance(1);
    await expect(c.list()).resolves.toBeDefined();
  });

  it('refuses requests over the 4 MiB receive limit', async () => {
    await serve();
    const err = await rejection(
      client().get({ podName: 'x'.repeat(5 * 1024 * 1024), podNamespace: 'default' }),
    );
    expect(err).toMatchObject({ code: ErrorCode.ResourceExhausted });
    expect((err as { detail: string }).detail).not.toBe('rejected by rate limit');
  });

  it('counts requests in the kubelet metrics', async () => {
    const metrics = new InMemoryMetrics();
    await serve({ metrics });
    const c = client();
    await c.list();
    await c.getAllocatableResources();
    await c.get({ podName: 'web', podNamespace: 'default' });
    await rejection(c.get({ podName: 'nope', podNamespace: 'default' }));
    const v1 = { server_api_version: 'v1' };
    expect(metrics.value('kubelet_pod_resources_endpoint_requests_total', v1)).toBe(4);
    expect(metrics.value('kubelet_pod_resources_endpoint_requests_list', v1)).toBe(1);
    expect(metrics.value('kubelet_pod_resources_endpoint_requests_get_allocatable', v1)).toBe(1);
    expect(metrics.value('kubelet_pod_resources_endpoint_requests_get', v1)).toBe(2);
    expect(metrics.value('kubelet_pod_resources_endpoint_errors_get', v1)).toBe(1);
  });

  it('creates <root>/pod-resources with mode 0750 and a socket; stop removes the socket and the API goes away', async () => {
    const server = await serve();
    expect(statSync(join(dir, 'root', 'pod-resources')).mode & 0o777).toBe(0o750);
    expect(statSync(socket).isSocket()).toBe(true);
    const c = client();
    await c.list();
    await server.stop();
    expect(existsSync(socket)).toBe(false);
    expect(await rejection(c.list({ timeoutMs: 2000 }))).toMatchObject({
      code: ErrorCode.Unavailable,
    });
    await server.stop(); // idempotent
  });

  it('refuses to start while another process serves the socket, and leaves that socket alone', async () => {
    await serve();
    const second = new PodResourcesServer({ socketPath: socket, activePods: () => [], clock });
    const err = await rejection(second.start());
    expect(isNodeAgentError(err, ErrorCode.FailedPrecondition)).toBe(true);
    expect((err as Error).message).toContain(socket);
    await second.stop();
    // The first server still answers.
    expect((await client().list()).podResources).toHaveLength(2);
  });

  it('replaces a stale socket (nobody listening) and a stray file at the path', async () => {
    // A socket file whose server is gone: bind under another name, hard-link it to the
    // path, close the server (which unlinks only its own name).
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'root', 'pod-resources'), { recursive: true });
    const other = join(dir, 'other.sock');
    const net: NetServer = createServer();
    await new Promise<void>((r) => net.listen(other, r));
    linkSync(other, socket);
    await new Promise<void>((r) => net.close(() => r()));
    expect(statSync(socket).isSocket()).toBe(true);
    const server = await serve();
    expect((await client().list()).podResources).toHaveLength(2);
    await server.stop();

    writeFileSync(socket, 'junk');
    const again = new PodResourcesServer({ socketPath: socket, activePods: () => pods, clock });
    toClose.push(again);
    await again.start();
    expect(statSync(socket).isSocket()).toBe(true);
    expect((await client().list()).podResources).toHaveLength(2);
  });

  it('cannot be started twice', async () => {
    const server = await serve();
    await expect(server.start()).rejects.toThrow(/cannot start/);
  });
});

describe('registerPodResourcesServer', () => {
  it('registers one shared server that takes Clock and MetricsRegistry from the container', async () => {
    const { registerPodResourcesServer } = await import('./register.js');
    const { PodResourcesServerToken } = await import('./server.js');
    const { Clock, MetricsRegistry } = await import('@nodeagent/core');
    const metrics = new InMemoryMetrics();
    const values = new Map<symbol, unknown>([
      [Clock, clock],
      [MetricsRegistry, metrics],
    ]);
    const factories = new Map<symbol, (r: never) => unknown>();
    const resolver = {
      resolve: <T>(token: symbol): T =>
        (factories.has(token) ? factories.get(token)!(resolver as never) : values.get(token)) as T,
      isRegistered: (token: symbol) => values.has(token) || factories.has(token),
    };
    registerPodResourcesServer(
      { register: (token, provider) => factories.set(token, provider.useFactory) },
      { socketPath: socket, activePods: () => pods },
    );
    const server = resolver.resolve<PodResourcesServer>(PodResourcesServerToken);
    expect(resolver.resolve(PodResourcesServerToken)).toBe(server);
    toClose.push(server);
    await server.start();
    await client().list();
    expect(
      metrics.value('kubelet_pod_resources_endpoint_requests_list', { server_api_version: 'v1' }),
    ).toBe(1);
  });
});
