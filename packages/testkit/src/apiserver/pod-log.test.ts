import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificates.js';
import { startTestApiServer, type TestApiServer } from './test-api-server.js';

/** A small HTTPS "kubelet" with its own CA that answers /containerLogs like the real one. */
interface FakeKubelet {
  port: number;
  caPem: string;
  /** Every request: URL and the client certificate's subject. */
  requests: { url: string; cn: string; o: string | string[] | undefined }[];
  /** Requests whose connection was closed by the API server before the kubelet ended them. */
  aborted: string[];
  /** Resolves when the API server next abandons a kubelet request. */
  nextAbort(): Promise<void>;
  /** Next answer for a non-follow request. */
  reply: { status: number; body: string };
  /** Open follow streams (write more lines to them). */
  follows: { write(s: string): void }[];
  /** Resolves when a follow stream has opened. */
  followOpened(): Promise<void>;
  close(): Promise<void>;
}

async function startFakeKubelet(
  ca: CertificateAuthority,
  clientCaPem: string,
): Promise<FakeKubelet> {
  const serving = ca.issue({
    commonName: 'node-1',
    ipAddresses: ['127.0.0.1', '::1'],
    usages: ['serverAuth'],
  });
  let followWaiters: (() => void)[] = [];
  let abortWaiters: (() => void)[] = [];
  const kubelet: FakeKubelet = {
    port: 0,
    caPem: ca.certPem,
    requests: [],
    aborted: [],
    reply: { status: 200, body: 'line 1\nline 2\n' },
    follows: [],
    followOpened: () => new Promise((resolve) => followWaiters.push(resolve)),
    nextAbort: () => new Promise((resolve) => abortWaiters.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
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
      const subject = (req.socket as TLSSocket).getPeerCertificate().subject as unknown as Record<
        string,
        string | string[] | undefined
      >;
      const url = req.url ?? '';
      kubelet.requests.push({ url, cn: String(subject.CN), o: subject.O });
      res.on('close', () => {
        if (res.writableFinished) return;
        kubelet.aborted.push(url);
        const w = abortWaiters;
        abortWaiters = [];
        for (const f of w) f();
      });
      if (url.includes('follow=true')) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first\n');
        kubelet.follows.push({ write: (s) => res.write(s) });
        const w = followWaiters;
        followWaiters = [];
        for (const f of w) f();
        return;
      }
      res.writeHead(kubelet.reply.status, { 'Content-Type': 'text/plain' });
      res.end(kubelet.reply.body);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kubelet.port = (server.address() as AddressInfo).port;
  return kubelet;
}

let server: TestApiServer;
let kubelet: FakeKubelet;

/** The kubelet's CA is made first so that the API server can trust it; the kubelet trusts the server's kubelet-client CA. */
async function start(options: { kubeletCa?: 'right' | 'wrong' | 'none' } = {}): Promise<void> {
  const kubeletCa = new CertificateAuthority('fake-kubelet-ca');
  const which = options.kubeletCa ?? 'right';
  server = await startTestApiServer({
    clock: new FakeClock(),
    ...(which === 'right' ? { kubeletCaPem: kubeletCa.certPem } : {}),
    ...(which === 'wrong' ? { kubeletCaPem: new CertificateAuthority('other-ca').certPem } : {}),
  });
  kubelet = await startFakeKubelet(kubeletCa, server.kubeletClientCaPem);
}

async function call(path: string): Promise<{ status: number; text: string; contentType: string }> {
  const res = await fetch(server.url + path);
  return {
    status: res.status,
    text: await res.text(),
    contentType: res.headers.get('content-type') ?? '',
  };
}

async function status(path: string): Promise<{ code: number; message: string; reason: string }> {
  const r = await call(path);
  const body = JSON.parse(r.text) as { code: number; message: string; reason: string };
  expect(body.code).toBe(r.status);
  return body;
}

function seedNode(address: string, port: number | undefined, name = 'node-1'): void {
  server.store.create(server.store.resource('nodes'), '', {
    metadata: { name },
    status: {
      addresses: [
        { type: 'InternalIP', address },
        { type: 'Hostname', address: address === '127.0.0.1' ? 'localhost' : address },
      ],
      ...(port === undefined ? {} : { daemonEndpoints: { kubeletEndpoint: { Port: port } } }),
    },
  });
}

function seedPod(
  name: string,
  containers: string[],
  nodeName = 'node-1',
  init: string[] = [],
): void {
  server.store.create(server.store.resource('pods'), 'default', {
    metadata: { name },
    spec: {
      ...(nodeName === '' ? {} : { nodeName }),
      containers: containers.map((c) => ({ name: c, image: 'busybox:1' })),
      ...(init.length > 0
        ? { initContainers: init.map((c) => ({ name: c, image: 'busybox:1' })) }
        : {}),
    },
  });
}

afterEach(async () => {
  await server.stop();
  await kubelet.close();
});

const logPath = (pod: string, query = ''): string =>
  `/api/v1/namespaces/default/pods/${pod}/log${query === '' ? '' : `?${query}`}`;

describe('pods/log', () => {
  it('proxies to the kubelet with the client certificate and passes the options through', async () => {
    await start();
    seedNode('127.0.0.1', kubelet.port);
    seedPod('web', ['c']);
    const r = await call(
      logPath('web', 'tailLines=5&timestamps=true&limitBytes=100&sinceSeconds=10&previous=true'),
    );
    expect(r).toEqual({ status: 200, text: 'line 1\nline 2\n', contentType: 'text/plain' });
    expect(kubelet.requests).toEqual([
      {
        url: '/containerLogs/default/web/c?previous=true&timestamps=true&sinceSeconds=10&tailLines=5&limitBytes=100',
        cn: 'kube-apiserver-kubelet-client',
        o: 'system:masters',
      },
    ]);
    expect(server.requests.at(-1)).toMatchObject({
      verb: 'get',
      resource: 'pods',
      subresource: 'log',
      name: 'web',
      status: 200,
    });
    // sinceTime is normalised to RFC 3339 seconds; an explicit container is used.
    seedPod('two', ['a', 'b']);
    expect(
      (await call(logPath('two', 'container=b&sinceTime=2026-01-01T10:00:00.000Z'))).status,
    ).toBe(200);
    expect(kubelet.requests.at(-1)?.url).toBe(
      '/containerLogs/default/two/b?sinceTime=2026-01-01T10%3A00%3A00Z',
    );
  });

  it('validates the container and the options like kube-apiserver', async () => {
    await start();
    seedNode('127.0.0.1', kubelet.port);
    seedPod('multi', ['a', 'b'], 'node-1', ['init']);
    expect(await status(logPath('multi'))).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: 'a container name must be specified for pod multi, choose one of: [init a b]',
    });
    expect(await status(logPath('multi', 'container=zzz'))).toMatchObject({
      code: 400,
      message: 'container zzz is not valid for pod multi',
    });
    // the init container is a valid choice
    expect((await call(logPath('multi', 'container=init'))).status).toBe(200);
    for (const q of [
      'tailLines=abc',
      'limitBytes=1.5',
      'sinceSeconds=x',
      'follow=maybe',
      'sinceTime=yesterday',
    ]) {
      expect((await status(logPath('multi', `container=a&${q}`))).code, q).toBe(400);
    }
    expect(await status(logPath('multi', 'container=a&tailLines=-1'))).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message:
        'PodLogOptions "multi" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
    });
    expect((await status(logPath('multi', 'container=a&limitBytes=0'))).message).toContain(
      'limitBytes: Invalid value: 0: must be greater than 0',
    );
    expect((await status(logPath('multi', 'container=a&sinceSeconds=0'))).message).toContain(
      'sinceSeconds: Invalid value: 0: must be greater than 0',
    );
    expect(
      (await status(logPath('multi', 'container=a&sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z')))
        .message,
    ).toContain('at most one of `sinceTime` or `sinceSeconds` may be specified');
    expect((await call(logPath('multi', 'container=a&tailLines=0'))).status).toBe(200);
    expect(await status(logPath('missing'))).toMatchObject({
      code: 404,
      message: 'pods "missing" not found',
    });
    const post = await fetch(server.url + logPath('multi'), { method: 'POST' });
    expect(post.status).toBe(405);
    // No invalid request reached the kubelet.
    expect(kubelet.requests.map((r) => r.url)).toEqual([
      '/containerLogs/default/multi/init',
      '/containerLogs/default/multi/a?tailLines=0',
    ]);
  });

  it('refuses unscheduled pods, unusable nodes and any address but loopback', async () => {
    await start();
    seedPod('pending', ['c'], '');
    expect(await status(logPath('pending'))).toMatchObject({
      code: 400,
      message: expect.stringContaining('is not scheduled to a node') as string,
    });
    seedPod('orphan', ['c'], 'ghost');
    expect(await status(logPath('orphan'))).toMatchObject({
      code: 503,
      message: 'node "ghost" of pod orphan not found',
    });
    server.store.create(server.store.resource('nodes'), '', { metadata: { name: 'bare' } });
    seedPod('on-bare', ['c'], 'bare');
    expect((await status(logPath('on-bare'))).message).toContain('no preferred addresses found');
    seedNode('127.0.0.1', undefined, 'no-port');
    seedPod('on-no-port', ['c'], 'no-port');
    expect(await status(logPath('on-no-port'))).toMatchObject({
      code: 503,
      message: expect.stringContaining('reports no kubelet port') as string,
    });
    seedNode('10.1.2.3', kubelet.port, 'remote');
    seedPod('on-remote', ['c'], 'remote');
    expect(await status(logPath('on-remote'))).toMatchObject({
      code: 503,
      reason: 'ServiceUnavailable',
      message: expect.stringContaining('only proxies to kubelets on 127.0.0.1 or ::1') as string,
    });
    expect(kubelet.requests).toEqual([]);
  });

  it('uses defaultKubeletPort for a node without a port', async () => {
    const kubeletCa = new CertificateAuthority('fake-kubelet-ca');
    server = await startTestApiServer({ clock: new FakeClock(), kubeletCaPem: kubeletCa.certPem });
    kubelet = await startFakeKubelet(kubeletCa, server.kubeletClientCaPem);
    await server.stop();
    // Same kubelet, a new server with the default port (its kubelet client CA differs, so
    // the kubelet rejects the handshake: the answer is the proxy's 500, proving the port was used).
    server = await startTestApiServer({
      clock: new FakeClock(),
      kubeletCaPem: kubeletCa.certPem,
      defaultKubeletPort: kubelet.port,
    });
    seedNode('127.0.0.1', undefined);
    seedPod('web', ['c']);
    const r = await status(logPath('web'));
    expect(r.code).toBe(500);
    expect(r.message).toContain(
      `Get "https://127.0.0.1:${kubelet.port}/containerLogs/default/web/c"`,
    );
  });

  it('without a kubelet CA does not verify the kubelet certificate, as kube-apiserver without --kubelet-certificate-authority', async () => {
    await start({ kubeletCa: 'none' });
    seedNode('127.0.0.1', kubelet.port);
    seedPod('web', ['c']);
    const res = await call(logPath('web'));
    expect([res.status, res.text]).toEqual([200, 'line 1\nline 2\n']);
  });

  it('verifies the kubelet certificate against the given CA unless insecureSkipTLSVerifyBackend', async () => {
    await start({ kubeletCa: 'wrong' });
    seedNode('127.0.0.1', kubelet.port);
    seedPod('web', ['c']);
    const refused = await status(logPath('web'));
    expect(refused).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(refused.message).toMatch(/certificate/);
    expect(kubelet.requests).toEqual([]);
    const skipped = await call(logPath('web', 'insecureSkipTLSVerifyBackend=true'));
    expect([skipped.status, skipped.text]).toEqual([200, 'line 1\nline 2\n']);
    expect(kubelet.requests.map((r) => r.url)).toEqual(['/containerLogs/default/web/c']);
  });

  it('passes kubelet errors on as Status objects', async () => {
    await start();
    seedNode('127.0.0.1', kubelet.port);
    seedPod('web', ['c']);
    kubelet.reply = {
      status: 400,
      body: 'container "c" in pod "web" is waiting to start: ContainerCreating',
    };
    expect(await status(logPath('web'))).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: 'container "c" in pod "web" is waiting to start: ContainerCreating',
    });
    kubelet.reply = { status: 404, body: 'pod not found' };
    expect(await status(logPath('web'))).toMatchObject({ code: 404, message: 'pod not found' });
    kubelet.reply = { status: 500, body: 'boom' };
    expect(await status(logPath('web'))).toMatchObject({
      code: 500,
      message: 'Internal error occurred: boom',
    });
  });

  it('streams with follow=true and closes the kubelet request when the client goes away', async () => {
    await start();
    seedNode('127.0.0.1', kubelet.port);
    seedPod('web', ['c']);
    const opened = kubelet.followOpened();
    const chunks: string[] = [];
    let onChunk: () => void = () => undefined;
    const req = httpRequest(server.url + logPath('web', 'follow=true'));
    const response = new Promise<number>((resolve) => {
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          chunks.push(c);
          onChunk();
        });
        res.on('error', () => undefined);
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', () => undefined);
    req.end();
    await opened;
    expect(await response).toBe(200);
    const nextChunk = (): Promise<void> => new Promise((resolve) => (onChunk = resolve));
    if (chunks.join('') !== 'first\n') await nextChunk();
    expect(chunks.join('')).toBe('first\n');
    const more = nextChunk();
    kubelet.follows[0]?.write('second\n');
    await more;
    expect(chunks.join('')).toBe('first\nsecond\n');
    expect(kubelet.aborted).toEqual([]);
    const abortedAtKubelet = kubelet.nextAbort();
    req.destroy();
    await abortedAtKubelet;
    expect(kubelet.aborted).toEqual(['/containerLogs/default/web/c?follow=true']);
  });
});
