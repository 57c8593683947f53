import { lstat, mkdtemp, readFile, readlink, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import { CertificatesV1Api, KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, isNodeAgentError, type MetricsRegistry } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import {
  parseCertificateRequest,
  startTestApiServer,
  type TestApiServer,
} from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapClientCertificate, isClientConfigStillValid } from './certificate-bootstrap.js';
import { CertificateManager, nextRotationDeadline } from './certificate-manager.js';
import {
  generateNodePrivateKey,
  makeCertificateSigningRequest,
  parseCertificatePair,
} from './certificate-request.js';
import { createKubeApi, loadKubeConfig } from './kube-api.js';

const bootstrapToken = 'abcdef.0123456789abcdef';
const node = 'node-a';

/** Lets real I/O (the in-process API server over loopback) progress, without timers. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  // Polls while real loopback I/O completes; the cap only bounds a hung test.
  const cap = performance.now() + 10_000;
  while (performance.now() < cap) {
    if (await check()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

function recordingMetrics(): { registry: MetricsRegistry; values: Map<string, number> } {
  const values = new Map<string, number>();
  const series = (name: string) => ({
    inc: (_l?: unknown, v = 1) => values.set(name, (values.get(name) ?? 0) + v),
    dec: () => undefined,
    set: (_l: unknown, v: number) => values.set(name, v),
    observe: () => undefined,
  });
  return {
    values,
    registry: {
      counter: (o) => series(o.name),
      gauge: (o) => series(o.name),
      histogram: (o) => series(o.name),
    },
  };
}

describe('certificate requests (node:crypto PKCS#10)', () => {
  it('builds a CSR the API server parses: CN, O, SANs and a valid signature', () => {
    const key = generateNodePrivateKey();
    expect(key).toContain('BEGIN EC PRIVATE KEY');
    const csr = makeCertificateSigningRequest(
      {
        commonName: 'system:node:n1',
        organizations: ['system:nodes'],
        dnsNames: ['n1.example'],
        ipAddresses: ['10.0.0.5', 'fd00::1', '::ffff:1.2.3.4'],
      },
      key,
    );
    const parsed = parseCertificateRequest(csr);
    expect(parsed.commonName).toBe('system:node:n1');
    expect(parsed.organizations).toEqual(['system:nodes']);
    expect(parsed.dnsNames).toEqual(['n1.example']);
    expect(parsed.ipAddresses).toEqual(['10.0.0.5', 'fd00::1', '::ffff:102:304']);
  });

  it('rotation deadline lies at 70–90 % of the lifetime, jittered', () => {
    const pair = { notBefore: 1_000_000, notAfter: 2_000_000 };
    expect(nextRotationDeadline(pair, { float: () => 0 })).toBe(1_700_000);
    expect(nextRotationDeadline(pair, { float: () => 0.5 })).toBe(1_800_000);
    expect(nextRotationDeadline(pair, { float: () => 0.999999 })).toBeCloseTo(1_900_000, -1);
  });
});

describe('bootstrap and rotation against the test API server', () => {
  let server: TestApiServer;
  let dir: string;
  let clock: FakeClock;
  const stops: (() => Promise<void>)[] = [];

  async function start(csrSigning: 'auto' | 'manual'): Promise<void> {
    server = await startTestApiServer({
      tls: true,
      csrSigning,
      tokens: {
        [bootstrapToken]: { name: 'system:bootstrap:abcdef', groups: ['system:bootstrappers'] },
      },
    });
    await writeFile(
      join(dir, 'bootstrap.kubeconfig'),
      server.kubeconfig({ token: bootstrapToken }),
    );
  }

  function bootstrap(extra: { requestedDurationSeconds?: number; waitTimeoutMs?: number } = {}) {
    return bootstrapClientCertificate({
      kubeconfigPath: join(dir, 'kubelet.conf'),
      bootstrapKubeconfigPath: join(dir, 'bootstrap.kubeconfig'),
      certDir: join(dir, 'pki'),
      nodeName: node,
      clock,
      ...extra,
    });
  }

  function csrCreates(): number {
    return server.requests.filter(
      (r) => r.resource === 'certificatesigningrequests' && r.verb === 'create' && r.status === 201,
    ).length;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeagent-certs-'));
    // Certificates are issued on the wall clock, so the fake clock starts there.
    clock = new FakeClock(Date.now());
  });

  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('bootstraps from a token to a client certificate that authenticates as system:node:<name>', async () => {
    await start('auto');
    expect(await isClientConfigStillValid(join(dir, 'kubelet.conf'), clock.now())).toBe(false);
    const result = await bootstrap();
    expect(result.bootstrapped).toBe(true);
    const current = join(dir, 'pki', 'kubelet-client-current.pem');
    expect(result.certificatePath).toBe(current);
    expect((await lstat(current)).isSymbolicLink()).toBe(true);
    const target = await readlink(current);
    expect(target).toMatch(/kubelet-client-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$/);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'kubelet.conf'))).mode & 0o777).toBe(0o600);
    // The CSR was made by the bootstrap user, with the kubelet's signer and usages.
    const create = server.requests.find(
      (r) => r.resource === 'certificatesigningrequests' && r.verb === 'create',
    );
    expect(create?.user).toBe('system:bootstrap:abcdef');
    const admin = new KubeConfig();
    admin.loadFromString(
      server.kubeconfig(
        server.issueClientCertificate({ name: 'admin', groups: ['system:masters'] }),
      ),
    );
    const csrs = await admin.makeApiClient(CertificatesV1Api).listCertificateSigningRequest();
    expect(csrs.items[0]?.spec.signerName).toBe('kubernetes.io/kube-apiserver-client-kubelet');
    expect(csrs.items[0]?.spec.usages).toEqual(['digital signature', 'client auth']);
    // The written kubeconfig works and the server sees the node.
    const kc = loadKubeConfig({ kubeconfigPath: join(dir, 'kubelet.conf') });
    expect(kc.getCurrentUser()?.certFile).toBe(current);
    expect(kc.getCurrentUser()?.keyFile).toBe(current);
    const api = createKubeApi(kc, { clock });
    await api.core.listNode();
    expect(server.requests.at(-1)).toMatchObject({ user: `system:node:${node}`, status: 200 });
    // A second start finds the kubeconfig valid and asks for nothing.
    const again = await bootstrap();
    expect(again.bootstrapped).toBe(false);
    expect(csrCreates()).toBe(1);
  });

  it('fails clearly when the CSR is denied', async () => {
    await start('manual');
    const pending = bootstrap().catch((e: unknown) => e);
    const admin = new KubeConfig();
    admin.loadFromString(
      server.kubeconfig(
        server.issueClientCertificate({ name: 'admin', groups: ['system:masters'] }),
      ),
    );
    const certs = admin.makeApiClient(CertificatesV1Api);
    let name = '';
    await until(async () => {
      const list = await certs.listCertificateSigningRequest();
      name = list.items[0]?.metadata?.name ?? '';
      return name !== '';
    }, 'CSR created');
    const csr = await certs.readCertificateSigningRequest({ name });
    await certs.replaceCertificateSigningRequestApproval({
      name,
      body: {
        ...csr,
        status: {
          conditions: [
            {
              type: 'Denied',
              status: 'True',
              reason: 'NotOurNode',
              message: 'unknown machine',
            },
          ],
        },
      },
    });
    const err = await pending;
    expect(isNodeAgentError(err, ErrorCode.PermissionDenied)).toBe(true);
    expect((err as Error).message).toContain(`${name} is denied`);
    expect((err as Error).message).toContain('NotOurNode');
    expect((err as Error).message).toContain('unknown machine');
    await expect(lstat(join(dir, 'kubelet.conf'))).rejects.toThrow();
  });

  it('times out on the injected clock when nobody approves', async () => {
    await start('manual');
    const pending = bootstrap({ waitTimeoutMs: 60_000 }).catch((e: unknown) => e);
    await until(() => server.openWatches > 0, 'CSR watch open');
    await clock.advance(60_000);
    const err = await pending;
    expect(isNodeAgentError(err, ErrorCode.DeadlineExceeded)).toBe(true);
  });

  it('rotates at 70–90 % of a short-lived certificate, swaps the symlink, keeps the API client working, and a restart loads the pair', async () => {
    await start('auto');
    await bootstrap({ requestedDurationSeconds: 600 });
    const kc = loadKubeConfig({ kubeconfigPath: join(dir, 'kubelet.conf') });
    const api = createKubeApi(kc, { clock });
    const metrics = recordingMetrics();
    const manager = new CertificateManager({
      kind: 'client',
      nodeName: node,
      certDir: join(dir, 'pki'),
      api,
      clock,
      random: { float: () => 0.5 },
      requestedDurationSeconds: 600,
      metrics: metrics.registry,
    });
    stops.push(() => manager.stop());
    const rotated: X509Certificate[] = [];
    manager.onRotate((p) => rotated.push(p.certificate));
    await manager.start();
    const first = manager.current();
    expect(first).toBeDefined();
    if (!first) return;
    const total = first.notAfter - first.notBefore;
    const deadline = manager.nextRotationDeadline() ?? 0;
    expect(deadline).toBe(first.notBefore + 0.8 * total);
    expect(metrics.values.get('kubelet_certificate_manager_client_ttl_seconds')).toBeCloseTo(
      (first.notAfter - clock.now()) / 1000,
      0,
    );
    // A long-lived watch on the old certificate's connection.
    const events: string[] = [];
    const watch = await api.startWatch(
      '/api/v1/namespaces/default/pods',
      {},
      (type, obj) =>
        events.push(`${type} ${(obj as { metadata: { name: string } }).metadata.name}`),
      () => undefined,
    );
    stops.push(() => Promise.resolve(watch.abort()));
    const oldTarget = await readlink(manager.currentPath());

    // Just before the deadline nothing happens…
    await clock.advance(deadline - clock.now() - 1_000);
    expect(csrCreates()).toBe(1);
    // …at the deadline a new CSR is made, signed and installed.
    await clock.advance(1_000);
    await until(() => rotated.length === 1, 'rotation');
    expect(csrCreates()).toBe(2);
    const second = manager.current();
    expect(second?.certificate.serialNumber).not.toBe(first.certificate.serialNumber);
    expect(rotated[0]?.serialNumber).toBe(second?.certificate.serialNumber);
    expect(metrics.values.get('kubelet_certificate_manager_client_rotations_total')).toBe(1);
    const newTarget = await readlink(manager.currentPath());
    expect(newTarget).not.toBe(oldTarget);
    // The renewal was made as the node itself (its current certificate), not the bootstrap token.
    const renewal = server.requests.filter(
      (r) => r.resource === 'certificatesigningrequests' && r.verb === 'create',
    )[1];
    expect(renewal?.user).toBe(`system:node:${node}`);

    // The old file is gone: new requests must use the new pair through the symlink.
    await unlink(oldTarget);
    await api.core.listNode();
    expect(server.requests.at(-1)).toMatchObject({ user: `system:node:${node}`, status: 200 });
    // The watch opened before the rotation keeps delivering.
    await api.core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'after-rotation' },
        spec: { containers: [{ name: 'c', image: 'i' }] },
      },
    });
    await until(() => events.includes('ADDED after-rotation'), 'watch event after rotation');
    await manager.stop();

    // A restart loads the rotated pair and asks for nothing.
    const creates = csrCreates();
    const restarted = new CertificateManager({
      kind: 'client',
      nodeName: node,
      certDir: join(dir, 'pki'),
      api,
      clock: new FakeClock(Date.now()),
      random: { float: () => 0.5 },
    });
    stops.push(() => restarted.stop());
    await restarted.start();
    expect(restarted.current()?.certificate.serialNumber).toBe(second?.certificate.serialNumber);
    expect(csrCreates()).toBe(creates);
  });

  it('retries a failed renewal with back-off and counts the error', async () => {
    await start('auto');
    await bootstrap({ requestedDurationSeconds: 600 });
    const api = createKubeApi(loadKubeConfig({ kubeconfigPath: join(dir, 'kubelet.conf') }), {
      clock,
    });
    const metrics = recordingMetrics();
    const manager = new CertificateManager({
      kind: 'client',
      nodeName: node,
      certDir: join(dir, 'pki'),
      api,
      clock,
      random: { float: () => 0.5 },
      metrics: metrics.registry,
    });
    stops.push(() => manager.stop());
    await manager.start();
    const removeFault = server.faults.failRequests({
      match: { resource: 'certificatesigningrequests', verb: 'create' },
      code: 500,
      times: 2,
    });
    stops.push(() => Promise.resolve(removeFault()));
    const failed = (): number =>
      server.requests.filter(
        (r) =>
          r.resource === 'certificatesigningrequests' && r.verb === 'create' && r.status === 500,
      ).length;
    await clock.advance((manager.nextRotationDeadline() ?? 0) - clock.now());
    await until(() => failed() === 1, 'first failure');
    await until(
      () => metrics.values.get('kubelet_certificate_manager_client_expiration_renew_errors') === 1,
      'error counted',
    );
    // The first retry comes after 2 s (+10 % jitter at most), not before.
    await clock.advance(1_900);
    expect(failed()).toBe(1);
    await clock.advance(300);
    await until(
      () => metrics.values.get('kubelet_certificate_manager_client_expiration_renew_errors') === 2,
      'second failure handled',
    );
    expect(failed()).toBe(2);
    // Then 4 s (+ jitter); this one succeeds.
    const rotated = manager.waitForCertificate();
    const before = manager.current()?.certificate.serialNumber;
    await clock.advance(4_400);
    await until(() => manager.current()?.certificate.serialNumber !== before, 'renewed');
    expect((await rotated).certificate.serialNumber).toBeDefined();
  });

  it('requests a serving certificate with the node addresses as SANs', async () => {
    await start('auto');
    await bootstrap();
    const api = createKubeApi(loadKubeConfig({ kubeconfigPath: join(dir, 'kubelet.conf') }), {
      clock,
    });
    let addresses: { dnsNames: string[]; ipAddresses: string[] } | undefined;
    const manager = new CertificateManager({
      kind: 'serving',
      nodeName: node,
      certDir: join(dir, 'pki'),
      api,
      clock,
      servingAddresses: () => addresses,
    });
    stops.push(() => manager.stop());
    const rotations: string[] = [];
    manager.onRotate((p) => rotations.push(p.certificate.subjectAltName ?? ''));
    await manager.start();
    // No addresses yet: nothing is requested.
    await clock.advance(10_000);
    expect(csrCreates()).toBe(1);
    addresses = { dnsNames: ['node-a.local'], ipAddresses: ['127.0.0.1'] };
    await clock.advance(40_000);
    await until(() => rotations.length === 1, 'serving certificate');
    expect(rotations[0]).toContain('DNS:node-a.local');
    expect(rotations[0]).toContain('IP Address:127.0.0.1');
    expect(manager.currentPath()).toBe(join(dir, 'pki', 'kubelet-server-current.pem'));
    const pair = manager.current();
    expect(pair?.certificate.keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.1');
    // A changed address makes it rotate at once.
    addresses = { dnsNames: ['node-a.local'], ipAddresses: ['127.0.0.1', '::1'] };
    await clock.advance(60_000);
    await until(() => rotations.length === 2, 'template change rotation');
    expect(rotations[1]).toContain('IP Address:0:0:0:0:0:0:0:1');
  });

  it('parses a stored pair and rejects a key that does not belong to the certificate', async () => {
    await start('auto');
    await bootstrap();
    const pem = await readFile(join(dir, 'pki', 'kubelet-client-current.pem'), 'utf8');
    expect(parseCertificatePair(pem, pem).certificate.subject).toContain(`CN=system:node:${node}`);
    expect(() => parseCertificatePair(pem, generateNodePrivateKey())).toThrow(/does not match/);
  });
});
