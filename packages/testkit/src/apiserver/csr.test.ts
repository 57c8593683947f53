import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCertificateSigningRequest,
  parseCertificateRequest,
  type CertificateSigningRequestInput,
} from './certificate-request.js';
import {
  startTestApiServer,
  type TestApiServer,
  type TestApiServerOptions,
} from './test-api-server.js';

const run = promisify(execFile);
const csrPath = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const bootstrapToken = 'abcdef.0123456789abcdef';

let server: TestApiServer | undefined;
/** The server of the running test (started by `start`). */
const api = (): TestApiServer => {
  if (server === undefined) throw new Error('server not started');
  return server;
};
let admin: { certPem: string; keyPem: string };

async function start(options: TestApiServerOptions = {}): Promise<void> {
  server = await startTestApiServer({
    clock: new FakeClock(),
    tls: true,
    tokens: {
      [bootstrapToken]: { name: 'system:bootstrap:abcdef', groups: ['system:bootstrappers'] },
    },
    ...options,
  });
  admin = api().issueClientCertificate({ name: 'admin', groups: ['system:masters'] });
}

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

type Creds = { token: string } | { certPem: string; keyPem: string };
type Obj = Record<string, unknown> & {
  metadata: Record<string, unknown>;
  spec: Record<string, unknown>;
  status?: { conditions?: Record<string, unknown>[]; certificate?: string };
};

function call(
  method: string,
  path: string,
  creds: Creds,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Obj & { message?: string; code?: number } }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${api().url}${path}`,
      {
        method,
        ca: api().caPem ?? '',
        ...('token' in creds
          ? { headers: { Authorization: `Bearer ${creds.token}` } }
          : { cert: creds.certPem, key: creds.keyPem }),
      },
      (res) => {
        let out = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (out += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(out) as Obj }));
      },
    );
    req.on('error', reject);
    if (text !== undefined) {
      req.setHeader('Content-Type', contentType);
      req.end(text);
    } else req.end();
  });
}

function csrObject(
  name: string,
  subject: CertificateSigningRequestInput,
  signerName: string,
  usages: string[],
  extra: Record<string, unknown> = {},
): { object: Obj; keyPem: string } {
  const { csrPem, keyPem } = createCertificateSigningRequest(subject);
  return {
    keyPem,
    object: {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName, usages, ...extra },
    },
  };
}

const clientUsages = ['digital signature', 'client auth'];
const node1 = { commonName: 'system:node:n1', organizations: ['system:nodes'] };
const kubeletClient = 'kubernetes.io/kube-apiserver-client-kubelet';
const kubeletServing = 'kubernetes.io/kubelet-serving';

function certOf(csr: Obj): X509Certificate {
  return new X509Certificate(Buffer.from(csr.status?.certificate ?? '', 'base64'));
}

describe('certificate signing requests (PKCS#10)', () => {
  it('parses CSRs made by openssl (RSA with SANs, Ed25519) and by the builder', async () => {
    const dir = new URL('./__fixtures__/', import.meta.url);
    const rsa = parseCertificateRequest(
      await readFile(new URL('openssl-rsa-serving.csr', dir), 'utf8'),
    );
    expect(rsa).toMatchObject({
      commonName: 'system:node:rsa-node',
      organizations: ['system:nodes'],
      dnsNames: ['rsa-node.local'],
      ipAddresses: ['127.0.0.1', '::1', 'fd00::1:0:0:5'],
    });
    const ed = parseCertificateRequest(
      await readFile(new URL('openssl-ed25519-client.csr', dir), 'utf8'),
    );
    expect(ed).toMatchObject({
      commonName: 'system:node:ed-node',
      organizations: ['system:nodes', 'extra'],
    });
    const own = createCertificateSigningRequest({
      ...node1,
      dnsNames: ['n1'],
      ipAddresses: ['127.0.0.1'],
    });
    expect(parseCertificateRequest(own.csrPem)).toMatchObject({
      ...node1,
      dnsNames: ['n1'],
      ipAddresses: ['127.0.0.1'],
    });
  });

  it('rejects other PEM blocks, garbage and a broken signature', () => {
    expect(() =>
      parseCertificateRequest('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    ).toThrow('PEM block type must be CERTIFICATE REQUEST');
    expect(() => parseCertificateRequest('hello')).toThrow(
      'PEM block type must be CERTIFICATE REQUEST',
    );
    expect(() =>
      parseCertificateRequest(
        '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      ),
    ).toThrow(/asn1|x509/);
    const { csrPem } = createCertificateSigningRequest(node1);
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    // Flip a byte inside the subject's CN: the self-signature no longer matches.
    const at = der.indexOf(Buffer.from('system:node:n1'));
    der[at] = 'S'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(() => parseCertificateRequest(tampered)).toThrow(/verification failure/);
  });
});

describe('certificates.k8s.io/v1 CertificateSigningRequests', () => {
  it('creates with the requester as username/groups, validates, and serves get/list/watch/delete', async () => {
    await start();
    const { object } = csrObject('node-csr-1', node1, kubeletClient, clientUsages, {
      expirationSeconds: 3600,
    });
    object.spec.username = 'mallory';
    object.status = { certificate: 'Zm9v' };
    const created = await call('POST', csrPath, { token: bootstrapToken }, object);
    expect(created.status).toBe(201);
    expect(created.body.spec).toMatchObject({
      username: 'system:bootstrap:abcdef',
      groups: ['system:bootstrappers', 'system:authenticated'],
      signerName: kubeletClient,
    });
    expect(created.body.status).toBeUndefined();
    expect(created.body.metadata.resourceVersion).toEqual(expect.any(String));
    const got = await call('GET', `${csrPath}/node-csr-1`, admin);
    expect(got.body.spec.username).toBe('system:bootstrap:abcdef');
    const list = await call(
      'GET',
      `${csrPath}?fieldSelector=spec.signerName%3D${encodeURIComponent(kubeletClient)}`,
      admin,
    );
    expect((list.body.items as Obj[]).map((i) => i.metadata.name)).toEqual(['node-csr-1']);
    const none = await call(
      'GET',
      `${csrPath}?fieldSelector=spec.signerName%3Dexample.com%2Fx`,
      admin,
    );
    expect(none.body.items).toEqual([]);
    // A main-resource update may change labels but not the spec.
    const updated = await call('PUT', `${csrPath}/node-csr-1`, admin, {
      ...got.body,
      metadata: { ...got.body.metadata, labels: { a: 'b' } },
      spec: { ...got.body.spec, signerName: 'example.com/other' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.metadata.labels).toEqual({ a: 'b' });
    expect(updated.body.spec.signerName).toBe(kubeletClient);
    expect((await call('DELETE', `${csrPath}/node-csr-1`, admin)).status).toBe(200);
    expect((await call('GET', `${csrPath}/node-csr-1`, admin)).status).toBe(404);
  });

  it('answers 422 for a bad request, a missing signerName or usages, and a too short expiration', async () => {
    await start();
    const base = csrObject('bad', node1, kubeletClient, clientUsages).object;
    const cases: [Record<string, unknown>, string][] = [
      [
        { request: Buffer.from('not a csr').toString('base64') },
        'spec.request: Invalid value: "<request>": PEM block type must be CERTIFICATE REQUEST',
      ],
      [{ signerName: undefined }, 'spec.signerName: Required value'],
      [
        { signerName: 'nodomain' },
        "must be a fully qualified domain and path of the form 'example.com/signer-name'",
      ],
      [{ usages: [] }, 'spec.usages: Required value: usages must be provided'],
      [{ usages: ['client auth', 'flying'] }, 'spec.usages[1]: Unsupported value: "flying"'],
      [
        { expirationSeconds: 599 },
        'spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)',
      ],
    ];
    for (const [patch, message] of cases) {
      const r = await call('POST', csrPath, admin, { ...base, spec: { ...base.spec, ...patch } });
      expect(r.status, message).toBe(422);
      expect(r.body.message).toContain(
        'CertificateSigningRequest.certificates.k8s.io "bad" is invalid',
      );
      expect(r.body.message).toContain(message);
    }
    expect(
      (
        await call('POST', csrPath, admin, {
          ...base,
          spec: { ...base.spec, expirationSeconds: 600 },
        })
      ).status,
    ).toBe(201);
  });

  it('manual mode: approval through /approval, then the built-in signer issues a certificate the server accepts', async () => {
    await start();
    const { object, keyPem } = csrObject('node-csr', node1, kubeletClient, clientUsages, {
      expirationSeconds: 3600,
    });
    await call('POST', csrPath, { token: bootstrapToken }, object);
    // Nothing happens on its own in manual mode.
    const pending = await call('GET', `${csrPath}/node-csr`, admin);
    expect(pending.body.status).toBeUndefined();
    const approved = await call('PUT', `${csrPath}/node-csr/approval`, admin, {
      ...pending.body,
      spec: { ...pending.body.spec, signerName: 'example.com/ignored' },
      status: {
        conditions: [{ type: 'Approved', status: 'True', reason: 'ByTest', message: 'ok' }],
      },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.spec.signerName).toBe(kubeletClient);
    expect(approved.body.status?.conditions).toEqual([
      {
        type: 'Approved',
        status: 'True',
        reason: 'ByTest',
        message: 'ok',
        lastUpdateTime: '2026-01-01T00:00:00Z',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ]);
    const issued = await call('GET', `${csrPath}/node-csr`, admin);
    const cert = certOf(issued.body);
    expect(cert.subject).toBe('O=system:nodes\nCN=system:node:n1');
    expect(cert.checkIssued(new X509Certificate(api().caPem ?? ''))).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const lifetime = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    expect(lifetime).toBe((3600 + 300) * 1000);
    // The agent now authenticates with the issued certificate and its own key.
    const asNode = await call('GET', '/api/v1/nodes', {
      certPem: Buffer.from(issued.body.status?.certificate ?? '', 'base64').toString(),
      keyPem,
    });
    expect(asNode.status).toBe(200);
    expect(api().requests.at(-1)?.user).toBe('system:node:n1');
  });

  it('keeps approval rules: Approved and Denied exclude each other and cannot be removed', async () => {
    await start();
    await call('POST', csrPath, admin, csrObject('d', node1, kubeletClient, clientUsages).object);
    const cur = (await call('GET', `${csrPath}/d`, admin)).body;
    const denied = await call('PUT', `${csrPath}/d/approval`, admin, {
      ...cur,
      status: { conditions: [{ type: 'Denied', status: 'True', reason: 'No' }] },
    });
    expect(denied.status).toBe(200);
    const both = await call('PUT', `${csrPath}/d/approval`, admin, {
      ...denied.body,
      status: {
        conditions: [
          ...(denied.body.status?.conditions ?? []),
          { type: 'Approved', status: 'True' },
        ],
      },
    });
    expect(both.status).toBe(422);
    expect(both.body.message).toContain('Approved and Denied conditions are mutually exclusive');
    const swapped = await call('PUT', `${csrPath}/d/approval`, admin, {
      ...denied.body,
      status: { conditions: [{ type: 'Approved', status: 'True' }] },
    });
    expect(swapped.status).toBe(422);
    expect(swapped.body.message).toContain('updates may not remove a condition of type "Denied"');
    const falseApproved = await call('PUT', `${csrPath}/d/approval`, admin, {
      ...denied.body,
      metadata: { ...denied.body.metadata, resourceVersion: '1' },
    });
    expect(falseApproved.status).toBe(409);
    expect(() => api().signCsr('d')).toThrow('is denied');
    expect((await call('GET', `${csrPath}/d`, admin)).body.status?.certificate).toBeUndefined();
    // A merge patch on /approval works too.
    await call('POST', csrPath, admin, csrObject('p', node1, kubeletClient, clientUsages).object);
    const patched = await call(
      'PATCH',
      `${csrPath}/p/approval`,
      admin,
      { status: { conditions: [{ type: 'Approved', status: 'Unknown' }] } },
      'application/merge-patch+json',
    );
    expect(patched.status).toBe(422);
    expect(patched.body.message).toContain(
      'status.conditions[0].status: Invalid value: "Unknown": must be True',
    );
  });

  it('lets an external signer set status.certificate through /status, once, with valid PEM', async () => {
    await start();
    const { object } = csrObject('ext', { commonName: 'app' }, 'example.com/signer', [
      'client auth',
    ]);
    await call('POST', csrPath, admin, object);
    const cur = (await call('GET', `${csrPath}/ext`, admin)).body;
    await call('PUT', `${csrPath}/ext/approval`, admin, {
      ...cur,
      status: { conditions: [{ type: 'Approved', status: 'True' }] },
    });
    // Unknown signers are left alone by the built-in controller.
    const approved = (await call('GET', `${csrPath}/ext`, admin)).body;
    expect(approved.status?.certificate).toBeUndefined();
    const bad = await call('PUT', `${csrPath}/ext/status`, admin, {
      ...approved,
      status: { ...approved.status, certificate: Buffer.from('nope').toString('base64') },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain('must contain at least one CERTIFICATE PEM block');
    const pemCert = api().issueClientCertificate({ name: 'app' }).certPem;
    const ok = await call('PUT', `${csrPath}/ext/status`, admin, {
      ...approved,
      // Approval conditions cannot be dropped through /status: they are kept.
      status: { certificate: Buffer.from(pemCert).toString('base64') },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.status?.conditions?.map((c) => c.type)).toEqual(['Approved']);
    expect(Buffer.from(ok.body.status?.certificate ?? '', 'base64').toString()).toBe(pemCert);
    const again = await call('PUT', `${csrPath}/ext/status`, admin, {
      ...ok.body,
      status: {
        ...ok.body.status,
        certificate: Buffer.from(api().issueClientCertificate({ name: 'x' }).certPem).toString(
          'base64',
        ),
      },
    });
    expect(again.status).toBe(422);
    expect(again.body.message).toContain('updates may not modify existing certificate content');
  });

  it('marks an approved request that breaks the kubelet signer rules Failed', async () => {
    await start();
    const { object } = csrObject(
      'with-san',
      { ...node1, dnsNames: ['n1'] },
      kubeletClient,
      clientUsages,
    );
    await call('POST', csrPath, admin, object);
    const cur = (await call('GET', `${csrPath}/with-san`, admin)).body;
    await call('PUT', `${csrPath}/with-san/approval`, admin, {
      ...cur,
      status: { conditions: [{ type: 'Approved', status: 'True' }] },
    });
    const after = (await call('GET', `${csrPath}/with-san`, admin)).body;
    expect(after.status?.certificate).toBeUndefined();
    expect(after.status?.conditions?.at(-1)).toMatchObject({
      type: 'Failed',
      status: 'True',
      reason: 'SignerValidationFailure',
      message: 'DNS subjectAltNames are not allowed',
    });
  });

  it('auto mode approves and issues kubelet client and serving certificates (bootstrap, then the node)', async () => {
    await start({ csrSigning: 'auto' });
    const client = csrObject('client', node1, kubeletClient, [
      'digital signature',
      'key encipherment',
      'client auth',
    ]);
    await call('POST', csrPath, { token: bootstrapToken }, client.object);
    const issued = (await call('GET', `${csrPath}/client`, admin)).body;
    expect(issued.status?.conditions).toEqual([
      expect.objectContaining({ type: 'Approved', status: 'True', reason: 'AutoApproved' }),
    ]);
    const nodeCreds = {
      certPem: Buffer.from(issued.status?.certificate ?? '', 'base64').toString(),
      keyPem: client.keyPem,
    };
    expect(certOf(issued).validTo).toBeTruthy();
    // With its client certificate the node asks for a serving certificate.
    const serving = csrObject(
      'serving',
      { ...node1, dnsNames: ['n1'], ipAddresses: ['127.0.0.1'] },
      kubeletServing,
      ['digital signature', 'server auth'],
      { expirationSeconds: 7200 },
    );
    expect((await call('POST', csrPath, nodeCreds, serving.object)).status).toBe(201);
    const servingCsr = (await call('GET', `${csrPath}/serving`, nodeCreds)).body;
    expect(servingCsr.spec.username).toBe('system:node:n1');
    const servingCert = certOf(servingCsr);
    expect(servingCert.subjectAltName).toBe('DNS:n1, IP Address:127.0.0.1');
    expect(servingCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(Date.parse(servingCert.validTo) - Date.parse(servingCert.validFrom)).toBe(
      (7200 + 300) * 1000,
    );
    // A serving request made by someone else, and a client request with a SAN, stay pending.
    await call(
      'POST',
      csrPath,
      { token: bootstrapToken },
      csrObject('foreign-serving', { ...node1, dnsNames: ['n1'] }, kubeletServing, [
        'digital signature',
        'server auth',
      ]).object,
    );
    await call(
      'POST',
      csrPath,
      { token: bootstrapToken },
      csrObject('client-san', { ...node1, dnsNames: ['x'] }, kubeletClient, clientUsages).object,
    );
    await call(
      'POST',
      csrPath,
      { token: bootstrapToken },
      csrObject('wrong-org', { commonName: 'system:node:n1' }, kubeletClient, clientUsages).object,
    );
    for (const n of ['foreign-serving', 'client-san', 'wrong-org']) {
      expect((await call('GET', `${csrPath}/${n}`, admin)).body.status, n).toBeUndefined();
    }
  });

  it('signCsr approves and signs by hand with a chosen duration', async () => {
    await start();
    const { object } = csrObject('by-hand', node1, kubeletClient, clientUsages);
    await call('POST', csrPath, admin, object);
    expect(() => api().signCsr('by-hand', { approve: false })).toThrow('is not approved');
    const signed = api().signCsr('by-hand', { durationSeconds: 900 });
    expect((signed.status as Obj['status'])?.conditions?.[0]).toMatchObject({
      type: 'Approved',
      reason: 'TestkitApproved',
    });
    const cert = certOf(signed as Obj);
    expect(Date.parse(cert.validTo) - Date.parse(cert.validFrom)).toBe((900 + 300) * 1000);
    expect(() => api().signCsr('missing')).toThrow(/not found/);
    await call(
      'POST',
      csrPath,
      admin,
      csrObject('bad-org', { commonName: 'system:node:n1' }, kubeletClient, clientUsages).object,
    );
    expect(() => api().signCsr('bad-org')).toThrow('subject organization is not system:nodes');
  });

  it('works with kubectl: get csr, certificate approve and deny', async () => {
    await start();
    const dir = await mkdtemp(join(tmpdir(), 'testkit-csr-'));
    try {
      const kubeconfig = join(dir, 'admin.kubeconfig');
      await writeFile(kubeconfig, api().kubeconfig(admin));
      await call(
        'POST',
        csrPath,
        { token: bootstrapToken },
        csrObject('k-approve', node1, kubeletClient, clientUsages, { expirationSeconds: 3600 })
          .object,
      );
      await call(
        'POST',
        csrPath,
        { token: bootstrapToken },
        csrObject('k-deny', node1, kubeletClient, clientUsages).object,
      );
      const kubectl = async (...args: string[]): Promise<string> =>
        (await run('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, ...args])).stdout;
      const before = await kubectl('get', 'csr');
      expect(before).toMatch(/NAME\s+AGE\s+SIGNERNAME\s+REQUESTOR\s+REQUESTEDDURATION\s+CONDITION/);
      expect(before).toMatch(
        /k-approve\s+\S+\s+kubernetes.io\/kube-apiserver-client-kubelet\s+system:bootstrap:abcdef\s+60m\s+Pending/,
      );
      expect(await kubectl('certificate', 'approve', 'k-approve')).toContain(
        'certificatesigningrequest.certificates.k8s.io/k-approve approved',
      );
      expect(await kubectl('certificate', 'deny', 'k-deny')).toContain('k-deny denied');
      const after = await kubectl('get', 'csr');
      expect(after).toMatch(/k-approve\s.*Approved,Issued/);
      expect(after).toMatch(/k-deny\s.*Denied/);
      const approval = api().requests.filter((r) => r.subresource === 'approval');
      expect(approval.map((r) => [r.method, r.verb, r.status])).toEqual([
        ['PUT', 'update', 200],
        ['PUT', 'update', 200],
      ]);
      const approved = (await call('GET', `${csrPath}/k-approve`, admin)).body;
      expect(approved.status?.conditions?.[0]).toMatchObject({
        type: 'Approved',
        reason: 'KubectlApprove',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
