import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificates.js';
import { splitSchemeNamePort } from './kubelet-proxy.js';
import { startTestApiServer, type TestApiServer } from './test-api-server.js';

/**
 * An HTTPS "kubelet" that answers plain requests with what it saw, and upgrades
 * `/exec/…` and `/portForward/…` to an echo stream (`/attach/…` it refuses with 400,
 * as a kubelet refuses a container that is not running).
 */
interface FakeKubelet {
  port: number;
  seen: { method: string; url: string; cn: string; authorization?: string; upgrade?: string }[];
  close(): Promise<void>;
}

async function startFakeKubelet(
  ca: CertificateAuthority,
  clientCaPem: string,
): Promise<FakeKubelet> {
  const serving = ca.issue({
    commonName: 'n1',
    ipAddresses: ['127.0.0.1'],
    usages: ['serverAuth'],
  });
  const sockets = new Set<Socket>();
  const kubelet: FakeKubelet = {
    port: 0,
    seen: [],
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const note = (req: IncomingMessage): void => {
    const cn = (req.socket as TLSSocket).getPeerCertificate().subject as unknown as {
      CN?: string;
    };
    kubelet.seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      cn: String(cn.CN),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers.upgrade ? { upgrade: req.headers.upgrade } : {}),
    });
  };
  const server: Server = createServer(
    {
      key: serving.keyPem,
      cert: serving.certPem,
      ca: clientCaPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      note(req);
      if (req.url === '/configz') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"kubeletconfig":{"maxPods":110}}');
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found\n');
    },
  );
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    note(req);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (req.url?.startsWith('/attach/')) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 31\r\n\r\ncontainer c is not running yet\n',
      );
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n',
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket); // echo
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kubelet.port = (server.address() as AddressInfo).port;
  return kubelet;
}

let server: TestApiServer;
let kubelet: FakeKubelet;

beforeEach(async () => {
  const kubeletCa = new CertificateAuthority('fake-kubelet-ca');
  server = await startTestApiServer({
    clock: new FakeClock(),
    kubeletCaPem: kubeletCa.certPem,
    tokens: { 'secret-of-the-client': { name: 'admin', groups: ['system:masters'] } },
  });
  kubelet = await startFakeKubelet(kubeletCa, server.kubeletClientCaPem);
  server.store.create(server.store.resource('nodes'), '', {
    metadata: { name: 'n1' },
    status: {
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } },
    },
  });
  const pods = server.store.resource('pods');
  server.store.create(pods, 'default', {
    metadata: { name: 'web' },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] },
  });
  server.store.create(pods, 'default', {
    metadata: { name: 'two' },
    spec: {
      nodeName: 'n1',
      containers: [
        { name: 'a', image: 'x' },
        { name: 'b', image: 'x' },
      ],
    },
  });
  server.store.create(pods, 'default', {
    metadata: { name: 'unscheduled' },
    spec: { containers: [{ name: 'c', image: 'x' }] },
  });
});

afterEach(async () => {
  await server.stop();
  await kubelet.close();
});

interface UpgradeResult {
  status: number;
  body: string;
  /** The upgraded socket (101 only). */
  socket?: Socket;
}

/** Sends an upgrade request to the API server and returns its answer. */
function upgrade(path: string, method = 'POST', protocol = 'SPDY/3.1'): Promise<UpgradeResult> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path,
      method,
      headers: {
        Connection: 'Upgrade',
        Upgrade: protocol,
        'X-Stream-Protocol-Version': 'v4.channel.k8s.io',
        Authorization: 'Bearer secret-of-the-client',
      },
    });
    req.on('upgrade', (res, socket) => resolve({ status: res.statusCode ?? 0, body: '', socket }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (c: Buffer) => {
      got += c.toString('utf8');
      if (got.length >= text.length) resolve(got);
    });
    socket.write(text);
  });
}

describe('pods/exec, pods/attach, pods/portforward (upgrade passed through to the kubelet)', () => {
  it('exec: the kubelet gets /exec/<ns>/<pod>/<container> with its stream parameters, the API server certificate and no client credentials; bytes flow both ways', async () => {
    const r = await upgrade(
      '/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=echo%20hi&stdin=true&stdout=true&stderr=true&tty=false',
    );
    expect(r.status).toBe(101);
    expect(await echo(r.socket!, 'ping')).toBe('ping');
    r.socket!.destroy();
    const seen = kubelet.seen.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe(
      '/exec/default/web/c?input=1&output=1&error=1&command=sh&command=-c&command=echo+hi',
    );
    expect(seen.cn).toBe('kube-apiserver-kubelet-client');
    expect(seen.authorization).toBeUndefined();
    expect(seen.upgrade).toBe('SPDY/3.1');
    expect(server.requests.at(-1)).toMatchObject({
      verb: 'create',
      resource: 'pods',
      subresource: 'exec',
      status: 101,
    });
  });

  it('portforward: /portForward/<ns>/<pod> with each port; the connections are cut when the API server goes down', async () => {
    const r = await upgrade(
      '/api/v1/namespaces/default/pods/web/portforward?ports=8080,9090',
      'GET',
    );
    expect(r.status).toBe(101);
    expect(kubelet.seen.at(-1)!.url).toBe('/portForward/default/web?port=8080&port=9090');
    const closed = new Promise<void>((resolve) => r.socket!.once('close', () => resolve()));
    await server.stop();
    await closed;
  });

  it("passes the kubelet's refusal through as it is", async () => {
    const r = await upgrade('/api/v1/namespaces/default/pods/web/attach?container=c&stdout=1');
    expect(r.status).toBe(400);
    expect(r.body).toBe('container c is not running yet\n');
    expect(kubelet.seen.at(-1)!.url).toBe('/attach/default/web/c?output=1');
  });

  it('answers bad requests itself, with a Status, like kube-apiserver', async () => {
    const several = await upgrade('/api/v1/namespaces/default/pods/two/exec?command=ls&stdout=1');
    expect(several.status).toBe(400);
    expect(JSON.parse(several.body)).toMatchObject({
      kind: 'Status',
      code: 400,
      reason: 'BadRequest',
      message: 'a container name must be specified for pod two, choose one of: [a b]',
    });
    const wrong = await upgrade('/api/v1/namespaces/default/pods/web/exec?container=zz&stdout=1');
    expect(JSON.parse(wrong.body)).toMatchObject({
      code: 400,
      message: 'container zz is not valid for pod web',
    });
    const unscheduled = await upgrade('/api/v1/namespaces/default/pods/unscheduled/exec?stdout=1');
    expect(JSON.parse(unscheduled.body)).toMatchObject({
      code: 400,
      message: 'pod unscheduled does not have a host assigned',
    });
    const missing = await upgrade('/api/v1/namespaces/default/pods/nope/exec?stdout=1');
    expect(JSON.parse(missing.body)).toMatchObject({ code: 404, reason: 'NotFound' });
    const badPort = await upgrade('/api/v1/namespaces/default/pods/web/portforward?ports=70000');
    expect(badPort.status).toBe(400);
    // Without an upgrade, exec is refused.
    const plain = await fetch(`${server.url}/api/v1/namespaces/default/pods/web/exec?command=ls`, {
      method: 'POST',
    });
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { message: string }).message).toBe('Upgrade request required');
    // Nothing of this reached the kubelet.
    expect(kubelet.seen).toEqual([]);
  });

  it('a kubelet that cannot be reached is a 500 "error dialing backend"', async () => {
    await kubelet.close();
    const r = await upgrade('/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=1');
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body)).toMatchObject({ code: 500, reason: 'InternalError' });
    expect((JSON.parse(r.body) as { message: string }).message).toMatch(
      /^error dialing backend: dial tcp 127\.0\.0\.1:\d+: connect ECONNREFUSED/,
    );
  });
});

describe('nodes/<name>/proxy/<path>', () => {
  it("answers with the kubelet's status, headers and body", async () => {
    const ok = await fetch(`${server.url}/api/v1/nodes/n1/proxy/configz`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/json');
    expect(await ok.json()).toEqual({ kubeletconfig: { maxPods: 110 } });
    const withPort = await fetch(`${server.url}/api/v1/nodes/n1:${kubelet.port}/proxy/nothing?x=1`);
    expect(withPort.status).toBe(404);
    expect(await withPort.text()).toBe('404 page not found\n');
    expect(kubelet.seen.map((s) => s.url)).toEqual(['/configz', '/nothing?x=1']);
    expect(kubelet.seen.every((s) => s.cn === 'kube-apiserver-kubelet-client')).toBe(true);
    const unknown = await fetch(`${server.url}/api/v1/nodes/nope/proxy/configz`);
    expect(unknown.status).toBe(404);
  });

  it('a kubelet that is down is a 503', async () => {
    await kubelet.close();
    const r = await fetch(`${server.url}/api/v1/nodes/n1/proxy/metrics`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { message: string }).message).toMatch(
      /^error trying to reach service: connect ECONNREFUSED/,
    );
  });

  it('splits scheme:name:port like kube-apiserver', () => {
    expect(splitSchemeNamePort('n1')).toEqual({ scheme: '', name: 'n1', port: '' });
    expect(splitSchemeNamePort('n1:10255')).toEqual({ scheme: '', name: 'n1', port: '10255' });
    expect(splitSchemeNamePort('https:n1:10250')).toEqual({
      scheme: 'https',
      name: 'n1',
      port: '10250',
    });
    expect(splitSchemeNamePort('ftp:n1:1')).toBeUndefined();
    expect(splitSchemeNamePort('n1:port')).toBeUndefined();
    expect(splitSchemeNamePort('a:b:c:d')).toBeUndefined();
  });
});
