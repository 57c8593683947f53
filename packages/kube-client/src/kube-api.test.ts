import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { InvalidConfigError } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKubeApi, loadKubeConfig } from './kube-api.js';
import { TokenBucketRateLimiter } from './rate-limiter.js';

describe('TokenBucketRateLimiter', () => {
  it('lets a burst through, then one request per 1/qps seconds in order', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter(clock, 2, 3);
    for (let i = 0; i < 3; i++) expect(limiter.tryAccept()).toBe(true);
    expect(limiter.tryAccept()).toBe(false);
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => limiter.acquire().then(() => order.push(n)));
    expect(limiter.waiting).toBe(3);
    await clock.advance(499);
    expect(order).toEqual([]);
    await clock.advance(1);
    expect(order).toEqual([1]);
    await clock.advance(1000);
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
  });

  it('refills no further than the burst', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter(clock, 10, 2);
    await clock.advance(60_000);
    expect([limiter.tryAccept(), limiter.tryAccept(), limiter.tryAccept()]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('qps 0 disables limiting', () => {
    const limiter = new TokenBucketRateLimiter(new FakeClock(), 0, 1);
    for (let i = 0; i < 1000; i++) expect(limiter.tryAccept()).toBe(true);
  });

  it('an aborted or stopped wait rejects and leaves the queue', async () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketRateLimiter(clock, 1, 1);
    expect(limiter.tryAccept()).toBe(true);
    const ac = new AbortController();
    const aborted = limiter.acquire(ac.signal);
    ac.abort();
    await expect(aborted).rejects.toThrow();
    const stopped = limiter.acquire();
    limiter.stop();
    await expect(stopped).rejects.toThrow('stopped');
    expect(limiter.waiting).toBe(0);
  });
});

describe('createKubeApi', () => {
  let server: TestApiServer;
  let dir: string;
  beforeAll(async () => {
    server = await startTestApiServer({ tls: true });
    dir = mkdtempSync(join(tmpdir(), 'kube-api-'));
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('talks to the API server with the kubeconfig credentials, rate-limited, with the user agent', async () => {
    const path = join(dir, 'kubeconfig');
    writeFileSync(
      path,
      server.kubeconfig(
        server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
      ),
    );
    const api = createKubeApi(loadKubeConfig({ kubeconfigPath: path }), {
      qps: 100,
      burst: 5,
      userAgent: 'nodeagent-test/1',
    });
    await api.core.createNamespace({ body: { metadata: { name: 'kube-api-test' } } });
    const list = await api.core.listNamespacedPod({ namespace: 'kube-api-test' });
    expect(list.items).toEqual([]);
    const last = server.requests.at(-1);
    expect(last).toMatchObject({ verb: 'list', resource: 'pods', user: 'system:node:n1' });
    expect(last?.userAgent).toBe('nodeagent-test/1');
    api.limiter.stop();
  });

  it('reuses connections: many requests, one or two TLS connections; new credentials, a new pool', async () => {
    const path = join(dir, 'kubeconfig-keepalive');
    writeFileSync(
      path,
      server.kubeconfig(server.issueClientCertificate({ name: 'system:node:n2' })),
    );
    const api = createKubeApi(loadKubeConfig({ kubeconfigPath: path }), { qps: 1000, burst: 1000 });
    const before = server.connectionsAccepted;
    for (let i = 0; i < 10; i++) await api.core.listNamespacedPod({ namespace: 'default' });
    await Promise.all(
      Array.from({ length: 5 }, () => api.core.listNamespacedPod({ namespace: 'default' })),
    );
    // Sequential requests share one connection; five at once may open up to five.
    expect(server.connectionsAccepted - before).toBeLessThanOrEqual(5);
    expect(server.requests.filter((r) => r.user === 'system:node:n2')).toHaveLength(15);
    api.close();
  });

  it('the connections of the kept pool share one TLS secure context', async () => {
    const path = join(dir, 'kubeconfig-context');
    writeFileSync(
      path,
      server.kubeconfig(server.issueClientCertificate({ name: 'system:node:n3' })),
    );
    const api = createKubeApi(loadKubeConfig({ kubeconfigPath: path }), { qps: 1000, burst: 1000 });
    const created = vi.spyOn(tls, 'createSecureContext');
    try {
      const before = server.connectionsAccepted;
      await Promise.all(
        Array.from({ length: 5 }, () => api.core.listNamespacedPod({ namespace: 'default' })),
      );
      const connections = server.connectionsAccepted - before;
      expect(connections).toBeGreaterThan(1);
      // The kept pool's context is made once, with the pool; no connection makes its own.
      expect(created).not.toHaveBeenCalled();
      expect(server.requests.filter((r) => r.user === 'system:node:n3')).toHaveLength(5);
    } finally {
      created.mockRestore();
      api.close();
    }
  });

  it('a client certificate rotated on disk is used at once; the old pool is retired', async () => {
    // The agent's layout: the kubeconfig names the certificate files; client-node
    // re-reads them for every request, so a new agent per TLS identity is needed.
    const certFile = join(dir, 'client.pem');
    const writeCert = (name: string): void => {
      const issued = server.issueClientCertificate({ name });
      writeFileSync(certFile, issued.certPem + issued.keyPem);
    };
    writeCert('system:node:r1');
    const kubeconfig = join(dir, 'kubeconfig-files');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "' +
          server.url +
          '", certificate-authority-data: ' +
          Buffer.from(server.caPem ?? '').toString('base64') +
          '}}]',
        'users: [{name: u, user: {client-certificate: ' +
          certFile +
          ', client-key: ' +
          certFile +
          '}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const api = createKubeApi(loadKubeConfig({ kubeconfigPath: kubeconfig }), {
      qps: 1000,
      burst: 1000,
    });
    await api.core.listNamespacedPod({ namespace: 'default' });
    expect(server.requests.at(-1)?.user).toBe('system:node:r1');
    const before = server.connectionsAccepted;
    writeCert('system:node:r2');
    await api.core.listNamespacedPod({ namespace: 'default' });
    expect(server.requests.at(-1)?.user).toBe('system:node:r2');
    await api.core.listNamespacedPod({ namespace: 'default' });
    expect(server.connectionsAccepted - before).toBe(1);
    api.close();
  });

  it('rejects a missing or unusable kubeconfig with InvalidConfigError', () => {
    expect(() => loadKubeConfig({})).toThrow(InvalidConfigError);
    expect(() => loadKubeConfig({ kubeconfigPath: join(dir, 'missing') })).toThrow(
      InvalidConfigError,
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    expect(() => loadKubeConfig({ kubeconfigPath: empty })).toThrow(/no current cluster/);
  });
});
