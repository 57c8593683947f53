import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidConfigError } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
