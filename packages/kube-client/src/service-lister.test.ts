import { KubeConfig } from '@kubernetes/client-node';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type JsonObject, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeApi, type KubeApi } from './kube-api.js';
import { WatchingServiceLister, serviceListerFieldSelector } from './service-lister.js';

let clock: FakeClock;
let server: TestApiServer;
let api: KubeApi;
let lister: WatchingServiceLister | undefined;

beforeEach(async () => {
  clock = new FakeClock();
  server = await startTestApiServer({ clock, tls: true });
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
    ),
  );
  api = createKubeApi(kc, { clock, qps: 0 });
  server.store.create(server.store.resource('namespaces'), '', { metadata: { name: 'team' } });
});

afterEach(async () => {
  await lister?.stop();
  lister = undefined;
  await server.stop();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
}

async function advanceUntil(cond: () => boolean, what: string, stepMs = 1000): Promise<void> {
  for (let i = 0; i < 600; i++) {
    await settle();
    if (cond()) return;
    await clock.advance(stepMs);
  }
  throw new Error(`never happened: ${what}`);
}

const services = () => server.store.resource('services');

function createService(namespace: string, name: string, spec: JsonObject): void {
  server.store.create(services(), namespace, { metadata: { name }, spec });
}

function start(): WatchingServiceLister {
  lister = new WatchingServiceLister({ api, clock, random: { float: () => 0 } });
  lister.start();
  return lister;
}

const namesIn = (l: WatchingServiceLister, ns: string): string[] =>
  l
    .listServices(ns)
    .map((s) => s.metadata.name ?? '')
    .sort();

describe('WatchingServiceLister', () => {
  it('lists all namespaces without headless Services, indexed by namespace, then syncs', async () => {
    createService('default', 'kubernetes', { clusterIP: '10.96.0.1', ports: [{ port: 443 }] });
    createService('team', 'foo', { ports: [{ port: 80 }] });
    createService('team', 'headless', { clusterIP: 'None', ports: [{ port: 80 }] });
    createService('team', 'ext', { type: 'ExternalName', externalName: 'example.com' });
    const l = start();
    expect(l.hasSynced()).toBe(false);
    await until(() => l.hasSynced(), 'synced');
    expect(namesIn(l, 'default')).toEqual(['kubernetes']);
    // ExternalName has no clusterIP, so the field selector keeps it; it gives no variables.
    expect(namesIn(l, 'team')).toEqual(['ext', 'foo']);
    expect(namesIn(l, 'nowhere')).toEqual([]);
    const foo = l.listServices('team').find((s) => s.metadata.name === 'foo');
    expect(foo?.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(typeof foo?.metadata.creationTimestamp).toBe('string'); // raw JSON, not Date
    const lists = server.requests.filter((q) => q.resource === 'services' && q.verb === 'list');
    expect(lists).toHaveLength(1);
    expect(lists[0]?.path).toBe('/api/v1/services');
    expect(new URLSearchParams(lists[0]?.query).get('fieldSelector')).toBe(
      serviceListerFieldSelector,
    );
  });

  it('follows adds, updates and deletes through the watch', async () => {
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    await until(() => server.openWatches === 1, 'watch open');
    createService('team', 'foo', { ports: [{ port: 80 }] });
    createService('team', 'headless', { clusterIP: 'None', ports: [{ port: 80 }] });
    await until(() => namesIn(l, 'team').length === 1, 'foo added');
    expect(namesIn(l, 'team')).toEqual(['foo']);
    const current = server.store.get(services(), 'team', 'foo');
    server.store.update(services(), 'team', {
      ...current,
      spec: { ...(current.spec as object), ports: [{ port: 8080 }] },
    });
    await until(() => l.listServices('team')[0]?.spec?.ports?.[0]?.port === 8080, 'foo updated');
    expect(l.listServices('team')).toHaveLength(1);
    server.store.delete(services(), 'team', 'foo');
    await until(() => l.listServices('team').length === 0, 'foo deleted');
  });

  it('stays synced through an outage and catches up after it', async () => {
    const l = start();
    await until(() => l.hasSynced(), 'synced');
    await server.faults.goDown();
    createService('team', 'late', { ports: [{ port: 80 }] });
    await settle();
    expect(l.hasSynced()).toBe(true);
    await server.faults.comeBack();
    await advanceUntil(() => namesIn(l, 'team').includes('late'), 'late service seen');
    expect(l.stats.failures).toBeGreaterThan(0);
  });

  it('is not synced while the list fails, and leaves no timers after stop', async () => {
    server.faults.failRequests({ code: 500, match: { resource: 'services' } });
    const l = start();
    await advanceUntil(() => l.stats.failures >= 2, 'list retried');
    expect(l.hasSynced()).toBe(false);
    await l.stop();
    await settle();
    expect(clock.pendingTimers()).toBe(0);
    expect(server.openWatches).toBe(0);
  });
});

describe('WatchingServiceLister checkpoint', () => {
  it('saves the Service set; a lister started while the API server is down serves it as synced, then the server replaces it', async () => {
    const { mkdtempSync, rmSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'svc-ckpt-'));
    const checkpointPath = join(dir, 'checkpoints', 'api-services.json');
    try {
      createService('team', 'foo', { ports: [{ port: 80 }] });
      const first = new WatchingServiceLister({
        api,
        clock,
        random: { float: () => 0 },
        checkpointPath,
      });
      first.start();
      await until(() => first.hasSynced(), 'first synced');
      await first.stop();
      expect(existsSync(checkpointPath)).toBe(true);

      await server.faults.goDown();
      const second = new WatchingServiceLister({
        api,
        clock,
        random: { float: () => 0 },
        checkpointPath,
      });
      lister = second;
      second.start();
      await second.idle();
      expect(second.hasSynced()).toBe(true); // from the checkpoint
      expect(namesIn(second, 'team')).toEqual(['foo']);

      // Meanwhile foo was deleted and bar created; once the server is back, its list wins.
      server.store.delete(services(), 'team', 'foo');
      createService('team', 'bar', { ports: [{ port: 81 }] });
      await server.faults.comeBack();
      await advanceUntil(
        () => namesIn(second, 'team').join() === 'bar',
        'server list replaces checkpoint',
      );
      expect(second.hasSynced()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a checkpoint, a lister started while the API server is down is not synced', async () => {
    await server.faults.goDown();
    const l = start();
    await settle();
    expect(l.hasSynced()).toBe(false);
    await server.faults.comeBack();
  });
});
