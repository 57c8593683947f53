import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificates.js';
import { startTestApiServer, type TestApiServer } from './test-api-server.js';

let server: TestApiServer;

beforeEach(async () => {
  server = await startTestApiServer({
    tls: true,
    tokens: { 'tok-1': { name: 'alice', groups: ['devs'] } },
  });
});
afterEach(async () => {
  await server.stop();
});

interface Creds {
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
}

function get(path: string, creds: Creds): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      {
        ...(creds.ca === undefined ? {} : { ca: creds.ca }),
        ...(creds.cert === undefined ? {} : { cert: creds.cert }),
        ...(creds.key === undefined ? {} : { key: creds.key }),
        ...(creds.token === undefined
          ? {}
          : { headers: { Authorization: `Bearer ${creds.token}` } }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('TLS and authentication', () => {
  it('serves HTTPS with a certificate for 127.0.0.1 signed by its CA', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = server.caPem ?? '';
    expect(new X509Certificate(ca).ca).toBe(true);
    expect((await get('/healthz', { ca })).status).toBe(200);
    await expect(get('/healthz', {})).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('authenticates client certificates (CN user, O groups) and bearer tokens; 401 otherwise', async () => {
    const ca = server.caPem ?? '';
    const node = server.issueClientCertificate({
      name: 'system:node:n1',
      groups: ['system:nodes'],
    });
    expect((await get('/api/v1/pods', { ca, cert: node.certPem, key: node.keyPem })).status).toBe(
      200,
    );
    expect((await get('/api/v1/pods', { ca, token: 'tok-1' })).status).toBe(200);
    const anon = await get('/api/v1/pods', { ca });
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.body)).toMatchObject({
      kind: 'Status',
      reason: 'Unauthorized',
      code: 401,
    });
    expect((await get('/api/v1/pods', { ca, token: 'wrong' })).status).toBe(401);
    const foreign = new CertificateAuthority('other-ca').issue({ commonName: 'mallory' });
    expect(
      (await get('/api/v1/pods', { ca, cert: foreign.certPem, key: foreign.keyPem })).status,
    ).toBe(401);
    expect((await get('/version', { ca })).status).toBe(200);
    server.addToken('tok-2', { name: 'bob' });
    expect((await get('/api', { ca, token: 'tok-2' })).status).toBe(200);
    expect(server.requests.map((r) => [r.user, r.status])).toEqual([
      ['system:node:n1', 200],
      ['alice', 200],
      ['system:anonymous', 401],
      ['system:anonymous', 401],
      ['system:anonymous', 401],
      ['system:anonymous', 200],
      ['bob', 200],
    ]);
  });

  it('writes kubeconfigs with the CA and the credentials', () => {
    const creds = server.issueClientCertificate({ name: 'u' });
    const withCert = JSON.parse(server.kubeconfig(creds)) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: Record<string, string> }[];
    };
    expect(withCert.clusters[0]?.cluster.server).toBe(server.url);
    expect(
      Buffer.from(
        withCert.clusters[0]?.cluster['certificate-authority-data'] ?? '',
        'base64',
      ).toString(),
    ).toBe(server.caPem);
    expect(
      Buffer.from(withCert.users[0]?.user['client-certificate-data'] ?? '', 'base64').toString(),
    ).toBe(creds.certPem);
    const withToken = JSON.parse(server.kubeconfig({ token: 't' })) as {
      users: { user: Record<string, string> }[];
    };
    expect(withToken.users[0]?.user).toEqual({ token: 't' });
  });

  it('issues certificates with the requested subject alternative names', () => {
    const ca = new CertificateAuthority('ca');
    const c = ca.issue({
      commonName: 'x',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      usages: ['serverAuth'],
    });
    const x = new X509Certificate(c.certPem);
    expect(x.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(x.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(x.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });
});

describe('reviews and authorization', () => {
  it('answers TokenReviews from the known tokens', async () => {
    const plain = await startTestApiServer({
      tokens: { good: { name: 'system:serviceaccount:ns:sa', groups: ['g'] } },
    });
    try {
      const review = async (token: string): Promise<Record<string, unknown>> => {
        const res = await fetch(`${plain.url}/apis/authentication.k8s.io/v1/tokenreviews`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token },
          }),
        });
        expect(res.status).toBe(201);
        return ((await res.json()) as { status: Record<string, unknown> }).status;
      };
      expect(await review('good')).toEqual({
        authenticated: true,
        user: { username: 'system:serviceaccount:ns:sa', groups: ['g', 'system:authenticated'] },
        audiences: [],
      });
      expect(await review('bad')).toMatchObject({ authenticated: false });
      const list = await fetch(`${plain.url}/apis/authentication.k8s.io/v1/tokenreviews`);
      expect(list.status).toBe(405);
    } finally {
      await plain.stop();
    }
  });

  it('authorizes requests and SubjectAccessReviews with the given authorizer', async () => {
    const authz = await startTestApiServer({
      tokens: { node: { name: 'system:node:n1', groups: ['system:nodes'] } },
      authorize: (a) => a.verb !== 'delete' && (a.resource !== 'secrets' || a.name === 'mine'),
    });
    try {
      const call = (method: string, path: string, body?: unknown): Promise<Response> =>
        fetch(authz.url + path, {
          method,
          headers: { Authorization: 'Bearer node', 'Content-Type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      expect((await call('GET', '/api/v1/pods')).status).toBe(200);
      const denied = await call('DELETE', '/api/v1/namespaces/default/pods/p');
      expect(denied.status).toBe(403);
      expect(await denied.json()).toMatchObject({
        reason: 'Forbidden',
        message:
          'pods "p" is forbidden: User "system:node:n1" cannot delete resource "pods" in API group "" in the namespace "default"',
      });
      const sar = async (resourceAttributes: Record<string, string>): Promise<unknown> => {
        const res = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: 'u', groups: ['g'], resourceAttributes },
        });
        return ((await res.json()) as { status: { allowed: boolean } }).status.allowed;
      };
      expect(await sar({ verb: 'get', resource: 'secrets', namespace: 'ns', name: 'mine' })).toBe(
        true,
      );
      expect(await sar({ verb: 'get', resource: 'secrets', namespace: 'ns', name: 'other' })).toBe(
        false,
      );
      const bad = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        spec: { user: 'u' },
      });
      expect(bad.status).toBe(422);
    } finally {
      await authz.stop();
    }
  });
});
