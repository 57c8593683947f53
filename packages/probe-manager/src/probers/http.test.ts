import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@nodeagent/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpProbeRequest, canonicalHeaderName, HttpProber } from './http.js';

let server: http.Server;
let secure: https.Server;
let port: number;
let securePort: number;
let tmp: string;
const seen: http.IncomingHttpHeaders[] = [];
const hanging: http.ServerResponse[] = [];

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  seen.push(req.headers);
  const path = req.url ?? '/';
  const n = /^\/loop\/(\d+)$/.exec(path);
  if (n) {
    res.writeHead(302, { Location: `/loop/${Number(n[1]) + 1}` }).end();
  } else if (path === '/ok') res.writeHead(200).end('healthy');
  else if (path === '/404') res.writeHead(404).end('nope');
  else if (path === '/500') res.writeHead(500).end('broken');
  else if (path === '/redirect') res.writeHead(302, { Location: '/ok' }).end();
  else if (path === '/redirect-abs')
    res.writeHead(301, { Location: `http://127.0.0.1:${port}/ok` }).end();
  else if (path === '/redirect-500') res.writeHead(307, { Location: '/500' }).end();
  else if (path === '/redirect-other')
    res.writeHead(302, { Location: `http://localhost:${port}/ok` }).end('moved');
  else if (path === '/hang') hanging.push(res);
  else if (path === '/slow-body') {
    res.writeHead(200);
    res.write('partial');
    hanging.push(res);
  } else if (path === '/big') res.writeHead(200).end('y'.repeat(100_000));
  else res.writeHead(200).end('root');
}

beforeAll(async () => {
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
  tmp = mkdtempSync(join(tmpdir(), 'probe-https-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=probe-test',
      '-keyout',
      join(tmp, 'key.pem'),
      '-out',
      join(tmp, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  secure = https.createServer(
    { key: readFileSync(join(tmp, 'key.pem')), cert: readFileSync(join(tmp, 'cert.pem')) },
    handler,
  );
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  securePort = (secure.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  secure.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve) => secure.close(() => resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

const container = { name: 'web', ports: [{ name: 'http', containerPort: 0 }] };

function probeOf(path: string, extra: Partial<Parameters<typeof buildHttpProbeRequest>[0]> = {}) {
  return buildHttpProbeRequest({ port, path, ...extra }, container, '127.0.0.1');
}

describe('buildHttpProbeRequest', () => {
  it('defaults scheme, host (pod IP), User-Agent and Accept', () => {
    const req = buildHttpProbeRequest(
      { port: 'http', path: '/healthz?x=1' },
      { name: 'c', ports: [{ name: 'http', containerPort: 8080 }] },
      '10.0.0.5',
    );
    expect(req.url.href).toBe('http://10.0.0.5:8080/healthz?x=1');
    expect([...req.headers]).toEqual([
      ['User-Agent', ['kube-probe/1.36']],
      ['Accept', ['*/*']],
    ]);
    expect(req.host).toBeUndefined();
  });

  it('honours overrides: version, headers (canonicalised, repeated), empty Accept removes it, Host', () => {
    const req = buildHttpProbeRequest(
      {
        port: 443,
        scheme: 'HTTPS',
        host: '::1',
        path: 'ready',
        httpHeaders: [
          { name: 'accept', value: '' },
          { name: 'x-custom', value: 'a' },
          { name: 'X-Custom', value: 'b' },
          { name: 'host', value: 'example.test' },
        ],
      },
      { name: 'c' },
      '10.0.0.5',
      '1.40',
    );
    expect(req.url.href).toBe('https://[::1]/ready'); // the default port is implied
    expect(Object.fromEntries(req.headers)).toEqual({
      'X-Custom': ['a', 'b'],
      'User-Agent': ['kube-probe/1.40'],
    });
    expect(req.host).toBe('example.test');
  });

  it('throws the kubelet message for an unresolvable named port', () => {
    expect(() => buildHttpProbeRequest({ port: 'metrics' }, { name: 'c' }, '1.2.3.4')).toThrow(
      'strconv.Atoi: parsing "metrics": invalid syntax',
    );
    expect(canonicalHeaderName('x-forwarded-for')).toBe('X-Forwarded-For');
  });
});

describe('HttpProber against a local server', () => {
  const prober = new HttpProber(new FakeClock());

  it('2xx is success with the body as output; sends the probe headers and Connection: close', async () => {
    seen.length = 0;
    await expect(prober.probe(probeOf('/ok'), 1)).resolves.toEqual({
      result: 'Success',
      output: 'healthy',
    });
    expect(seen[0]).toMatchObject({
      'user-agent': 'kube-probe/1.36',
      accept: '*/*',
      connection: 'close',
      host: `127.0.0.1:${port}`,
    });
    expect(seen[0]?.['accept-encoding']).toBeUndefined();
  });

  it('sends a Host header override', async () => {
    seen.length = 0;
    await prober.probe(
      probeOf('/ok', { httpHeaders: [{ name: 'Host', value: 'svc.example' }] }),
      1,
    );
    expect(seen[0]?.host).toBe('svc.example');
  });

  it('4xx and 5xx fail with the status code', async () => {
    await expect(prober.probe(probeOf('/404'), 1)).resolves.toEqual({
      result: 'Failure',
      output: 'HTTP probe failed with statuscode: 404',
    });
    await expect(prober.probe(probeOf('/500'), 1)).resolves.toEqual({
      result: 'Failure',
      output: 'HTTP probe failed with statuscode: 500',
    });
  });

  it('follows redirects to the same host (relative and absolute)', async () => {
    await expect(prober.probe(probeOf('/redirect'), 1)).resolves.toEqual({
      result: 'Success',
      output: 'healthy',
    });
    await expect(prober.probe(probeOf('/redirect-abs'), 1)).resolves.toEqual({
      result: 'Success',
      output: 'healthy',
    });
    await expect(prober.probe(probeOf('/redirect-500'), 1)).resolves.toEqual({
      result: 'Failure',
      output: 'HTTP probe failed with statuscode: 500',
    });
  });

  it('does not follow a redirect to another host: success with a warning', async () => {
    seen.length = 0;
    await expect(prober.probe(probeOf('/redirect-other'), 1)).resolves.toEqual({
      result: 'Warning',
      output: 'Probe terminated redirects, Response body: moved',
    });
    expect(seen).toHaveLength(1);
  });

  it('stops after 10 redirects', async () => {
    seen.length = 0;
    await expect(prober.probe(probeOf('/loop/0'), 1)).resolves.toEqual({
      result: 'Failure',
      output: 'Get "/loop/10": stopped after 10 redirects',
    });
    expect(seen).toHaveLength(10);
  });

  it('reads at most 10 KiB of body', async () => {
    const out = await prober.probe(probeOf('/big'), 1);
    expect(out.result).toBe('Success');
    expect(out.output).toHaveLength(10 * 1024);
  });

  it('a refused connection is a failure with Go’s message', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const p = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(
      prober.probe(buildHttpProbeRequest({ port: p, path: '/x' }, container, '127.0.0.1'), 1),
    ).resolves.toEqual({
      result: 'Failure',
      output: `Get "http://127.0.0.1:${p}/x": dial tcp 127.0.0.1:${p}: connect: connection refused`,
    });
  });

  it('times out waiting for headers and while reading the body (fake clock)', async () => {
    const clock = new FakeClock();
    const timed = new HttpProber(clock);
    const pending = timed.probe(probeOf('/hang'), 2);
    while (hanging.length === 0) await clock.advance(0);
    await clock.advance(2_000);
    await expect(pending).resolves.toEqual({
      result: 'Failure',
      output: `Get "http://127.0.0.1:${port}/hang": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
    const body = timed.probe(probeOf('/slow-body'), 1);
    while (hanging.length === 1) await clock.advance(0);
    await clock.advance(1_000);
    await expect(body).resolves.toMatchObject({
      result: 'Failure',
      output: expect.stringContaining(
        'Client.Timeout or context cancellation while reading body',
      ) as string,
    });
  });

  it('https without certificate verification', async () => {
    const req = buildHttpProbeRequest(
      { port: securePort, path: '/ok', scheme: 'HTTPS' },
      container,
      '127.0.0.1',
    );
    await expect(prober.probe(req, 1)).resolves.toEqual({ result: 'Success', output: 'healthy' });
  });

  it('leaves no TIME_WAIT sockets and no file descriptors behind', async () => {
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const tw = (): number => timeWait(port);
    const before = tw();
    for (let i = 0; i < 200; i++) await prober.probe(probeOf('/ok'), 1);
    for (let i = 0; i < 50; i++) await prober.probe(probeOf('/big'), 1);
    for (let i = 0; i < 50; i++) await prober.probe(probeOf('/redirect'), 1);
    expect(tw() - before).toBe(0);
    expect(readdirSync('/proc/self/fd').length - fdsBefore).toBeLessThanOrEqual(2);
  });
});

/** TIME_WAIT (state 06) sockets with `port` on either end, from /proc/net/tcp. */
function timeWait(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      return f[3] === '06' && (f[1]?.endsWith(`:${hex}`) || f[2]?.endsWith(`:${hex}`));
    }).length;
}
