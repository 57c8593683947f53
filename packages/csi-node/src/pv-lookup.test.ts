/**
 * KubePersistentVolumeLookup against the in-process test API server (loopback):
 * PVC and PV reads, 404 → NotFoundError, a server that is down → UnavailableError.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { isNodeAgentError } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi } from '@nodeagent/kube-client';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubePersistentVolumeLookup, StaticPersistentVolumeLookup } from './pv-lookup.js';

let server: TestApiServer;
let lookup: KubePersistentVolumeLookup;

beforeEach(async () => {
  const clock = new FakeClock();
  server = await startTestApiServer({ clock, tls: true });
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
    ),
  );
  lookup = new KubePersistentVolumeLookup(createKubeApi(kc, { clock, qps: 0 }));
});
afterEach(async () => {
  await server.stop();
});

function create(plural: string, namespace: string, body: Record<string, unknown>): void {
  server.store.create(server.store.resource(plural), namespace, body as never);
}

describe('KubePersistentVolumeLookup', () => {
  it('reads a claim and its CSI volume in the JSON shape', async () => {
    create('persistentvolumeclaims', 'default', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'default' },
      spec: { volumeName: 'pv-1', accessModes: ['ReadWriteOnce'] },
    });
    create('persistentvolumes', '', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-1' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        claimRef: { namespace: 'default', name: 'data' },
        csi: { driver: 'd.example.com', volumeHandle: 'vol-1', volumeAttributes: { a: 'b' } },
      },
    });
    const claim = await lookup.getClaim('default', 'data');
    expect(claim.spec?.volumeName).toBe('pv-1');
    expect(typeof claim.metadata.uid).toBe('string');
    const created = (claim.metadata as Record<string, unknown>).creationTimestamp;
    expect(created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const pv = await lookup.getVolume('pv-1');
    expect(pv.spec?.csi).toEqual({
      driver: 'd.example.com',
      volumeHandle: 'vol-1',
      volumeAttributes: { a: 'b' },
    });
    expect(pv.spec?.claimRef).toMatchObject({ namespace: 'default', name: 'data' });
  });

  it('a missing object is a NotFoundError; an unreachable server an UnavailableError', async () => {
    const missing = await lookup.getClaim('default', 'nope').catch((e: unknown) => e);
    expect(isNodeAgentError(missing, 'NotFound')).toBe(true);
    expect((missing as Error).message).toBe(
      'persistentvolumeclaim "nope" in namespace "default" not found',
    );
    expect(
      isNodeAgentError(await lookup.getVolume('nope').catch((e: unknown) => e), 'NotFound'),
    ).toBe(true);
    await server.faults.goDown();
    const down = await lookup.getVolume('pv-1').catch((e: unknown) => e);
    expect(isNodeAgentError(down, 'Unavailable')).toBe(true);
    await server.faults.comeBack();
  });
});

describe('StaticPersistentVolumeLookup', () => {
  it('returns copies and NotFound for unknown names', async () => {
    const l = new StaticPersistentVolumeLookup({
      claims: [{ metadata: { name: 'c' }, spec: { volumeName: 'v' } }],
    });
    const c = await l.getClaim('default', 'c');
    c.spec!.volumeName = 'changed';
    expect((await l.getClaim('default', 'c')).spec?.volumeName).toBe('v');
    await expect(l.getVolume('v')).rejects.toThrow('persistentvolume "v" not found');
  });
});
