import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testKubeApi } from './__fixtures__/node-fixtures.js';
import { NodeLeaseController } from './lease-controller.js';
import type { Lease } from './node-types.js';

describe('NodeLeaseController', () => {
  let server: TestApiServer;
  let clock: FakeClock;
  let controller: NodeLeaseController | undefined;

  beforeEach(async () => {
    server = await startTestApiServer({ tls: true });
    clock = new FakeClock();
  });
  afterEach(async () => {
    await controller?.stop();
    controller = undefined;
    await server.stop();
  });

  function create(nodeUid?: () => string | undefined): NodeLeaseController {
    controller = new NodeLeaseController({
      nodeName: 'node-a',
      api: testKubeApi(server, clock),
      clock,
      random: { float: () => 0 },
      ...(nodeUid ? { nodeUid } : {}),
    });
    return controller;
  }
  async function step(ms: number): Promise<void> {
    await clock.advance(ms);
    await controller?.idle();
  }
  function leases(s: TestApiServer): Lease | undefined {
    return s.store.tryGet(
      s.store.resource('leases', 'coordination.k8s.io'),
      'kube-node-lease',
      'node-a',
    ) as Lease | undefined;
  }
  const leaseRequests = (verb: string): number =>
    server.requests.filter((r) => r.resource === 'leases' && r.verb === verb).length;

  it('creates the Lease with holder, 40 s duration, MicroTime renewTime and the Node owner reference', async () => {
    const node = server.store.create(server.store.resource('nodes'), '', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-a' },
    }) as { metadata: { uid: string } };
    create().start();
    await step(0);
    const lease = leases(server);
    expect(lease?.spec).toMatchObject({
      holderIdentity: 'node-a',
      leaseDurationSeconds: 40,
      renewTime: '2026-01-01T00:00:00.000000Z',
    });
    expect(lease?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: node.metadata.uid },
    ]);
  });

  it('renews every 10 s: 6 updates per simulated minute, without GETs', async () => {
    create(() => 'uid-1').start();
    await step(0);
    expect(leaseRequests('create')).toBe(1);
    for (let i = 0; i < 6; i++) await step(10_000);
    expect(leaseRequests('update')).toBe(6);
    expect(leaseRequests('get')).toBe(1); // the initial ensure only
    expect(leases(server)?.spec?.renewTime).toBe('2026-01-01T00:01:00.000000Z');
    expect(leases(server)?.metadata.ownerReferences?.[0]?.uid).toBe('uid-1');
  }, 30_000);

  it('recreates the Lease when it was deleted', async () => {
    create(() => 'uid-1').start();
    await step(0);
    await step(10_000);
    server.store.delete(
      server.store.resource('leases', 'coordination.k8s.io'),
      'kube-node-lease',
      'node-a',
    );
    expect(leases(server)).toBeUndefined();
    await step(10_000);
    expect(leases(server)?.spec?.renewTime).toBe('2026-01-01T00:00:20.000000Z');
    expect(leases(server)?.spec?.holderIdentity).toBe('node-a');
    // Leases allow create-on-update (as kube-apiserver does): the renewal recreates it.
    const last = server.requests.filter((r) => r.resource === 'leases').at(-1);
    expect([last?.verb, last?.status]).toEqual(['update', 201]);
  });

  it('on a conflict gets the Lease fresh and retries', async () => {
    create(() => 'uid-1').start();
    await step(0);
    server.faults.failRequests({
      match: { resource: 'leases', verb: 'update' },
      code: 409,
      times: 1,
    });
    await step(10_000);
    const statuses = server.requests
      .filter((r) => r.resource === 'leases')
      .slice(-3)
      .map((r) => `${r.verb} ${r.status}`);
    expect(statuses).toEqual(['update 409', 'get 200', 'update 200']);
    expect(leases(server)?.spec?.renewTime).toBe('2026-01-01T00:00:10.000000Z');
  });

  it('backs off while the API server is down and renews again when it is back', async () => {
    create(() => 'uid-1').start();
    await step(0);
    await server.faults.goDown();
    await clock.advance(10_000); // renewal: 5 failed updates, then ensure with back-off
    for (let i = 0; i < 50 && server.requests.length === 0; i++) await clock.flush();
    await clock.advance(200);
    await clock.advance(400);
    await server.faults.comeBack();
    // Back-off continues: 800 ms, 1.6 s, 3.2 s, 6.4 s, 7 s; one of them finds the server back.
    for (let i = 0; i < 8 && (leases(server)?.spec?.renewTime ?? '') < '2026-01-01T00:00:10'; i++) {
      await clock.advance(7_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    await controller?.idle();
    expect(leases(server)?.spec?.renewTime).not.toBe('2026-01-01T00:00:00.000000Z');
    const renewedAt = Date.parse(leases(server)?.spec?.renewTime ?? '');
    // Then it continues at the normal interval.
    const updatesBefore = leaseRequests('update');
    await step(10_000);
    expect(leaseRequests('update')).toBe(updatesBefore + 1);
    expect(Date.parse(leases(server)?.spec?.renewTime ?? '') - renewedAt).toBeGreaterThanOrEqual(
      10_000,
    );
  }, 30_000);

  it('stop() ends a back-off and leaves no timers', async () => {
    create(() => 'uid-1').start();
    await step(0);
    await server.faults.goDown();
    await clock.advance(10_000);
    await new Promise((r) => setTimeout(r, 200));
    await controller?.stop();
    expect(clock.pendingTimers()).toBe(0);
    await server.faults.comeBack();
  });
});
