import * as net from 'node:net';
import { FakeClock } from '@nodeagent/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpProbeRequest, HttpProber } from './http.js';

/**
 * The hand-written HTTP/1.1 client behind HttpProber, against a raw TCP server that
 * answers each path with exact bytes (split into several writes where the framing
 * must survive a split), so every body framing and slow-server case is pinned down.
 */
let server: net.Server;
let port: number;
const sockets = new Set<net.Socket>();
const requests: string[] = [];
/** Paths whose scripted answer has been written in full. */
const answered = new Set<string>();

/** Writes `parts` one per event-loop turn (separate reads), then (when `close`) ends. */
function answer(s: net.Socket, path: string, parts: string[], close: boolean): void {
  let i = 0;
  const next = (): void => {
    if (s.destroyed) return;
    if (i < parts.length) {
      s.write(parts[i++]!);
      setImmediate(next);
      return;
    }
    if (close) s.end();
    answered.add(path);
  };
  next();
}

const responses: Record<string, { parts: string[]; close: boolean }> = {
  '/length': { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'], close: false },
  '/length-split': {
    parts: ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 11\r\n\r', '\nhello', ' world'],
    close: false,
  },
  '/chunked': {
    parts: [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      '5\r\nhel',
      'lo\r',
      '\n6;ext=1\r\n world\r\n',
      '0\r\n\r\n',
    ],
    close: false,
  },
  '/chunked-big': {
    parts: [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      `2000\r\n${'a'.repeat(0x2000)}\r\n`,
      `2000\r\n${'b'.repeat(0x2000)}\r\n`,
    ],
    close: false,
  },
  '/no-body-204': { parts: ['HTTP/1.1 204 No Content\r\n\r\n'], close: false },
  '/no-body-200': { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'], close: false },
  '/until-close': { parts: ['HTTP/1.0 200 OK\r\n\r\nall', ' of it'], close: true },
  '/continue': {
    parts: ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n'],
    close: false,
  },
  '/redirect-chunked': {
    parts: [
      'HTTP/1.1 302 Found\r\nLocation: /length\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    close: false,
  },
  '/malformed': { parts: ['SSH-2.0-OpenSSH_9.2\r\n\r\n'], close: false },
  '/closed-early': { parts: [], close: true },
  '/slow-headers': { parts: ['HTTP/1.1 200 OK\r\nContent-'], close: false },
  '/slow-body': { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'], close: false },
};

beforeAll(async () => {
  server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let head = '';
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      requests.push(head);
      const path = head.split(' ')[1] ?? '';
      const r = responses[path];
      if (r) answer(s, path, r.parts, r.close);
      else s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const container = { name: 'web' };
const probeOf = (path: string, headers: { name: string; value: string }[] = []) =>
  buildHttpProbeRequest({ port, path, httpHeaders: headers }, container, '127.0.0.1');

describe('HttpProber wire format', () => {
  const prober = new HttpProber(new FakeClock());

  it('sends one HTTP/1.1 GET with Host first, the probe headers and Connection: close', async () => {
    requests.length = 0;
    await prober.probe(probeOf('/length?q=1', [{ name: 'x-a', value: '1' }]), 1);
    expect(requests).toEqual([
      `GET /length?q=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-A: 1\r\n` +
        'User-Agent: kube-probe/1.36\r\nAccept: */*\r\nConnection: close\r\n\r\n',
    ]);
  });

  it('refuses a header value that would break the request framing', async () => {
    requests.length = 0;
    const out = await prober.probe(probeOf('/length', [{ name: 'X-Evil', value: 'a\r\nB: c' }]), 1);
    expect(out.result).toBe('Failure');
    expect(out.output).toContain('Invalid character in header content ["X-Evil"]');
    expect(requests).toHaveLength(0);
  });
});

describe('HttpProber response framing', () => {
  const prober = new HttpProber(new FakeClock());
  const ok = (output: string) => ({ result: 'Success', output });

  it('Content-Length: reads exactly that many bytes without waiting for the close', async () => {
    await expect(prober.probe(probeOf('/length'), 1)).resolves.toEqual(ok('hello'));
    await expect(prober.probe(probeOf('/length-split'), 1)).resolves.toEqual(ok('hello world'));
  });

  it('chunked: decodes chunks split anywhere, with extensions, up to the last chunk', async () => {
    await expect(prober.probe(probeOf('/chunked'), 1)).resolves.toEqual(ok('hello world'));
  });

  it('chunked: stops at 10 KiB without waiting for the rest', async () => {
    const out = await prober.probe(probeOf('/chunked-big'), 1);
    expect(out.result).toBe('Success');
    expect(out.output).toBe('a'.repeat(0x2000) + 'b'.repeat(2048));
  });

  it('no body: 204, and 200 with Content-Length 0, complete at the headers', async () => {
    await expect(prober.probe(probeOf('/no-body-204'), 1)).resolves.toEqual(ok(''));
    await expect(prober.probe(probeOf('/no-body-200'), 1)).resolves.toEqual(ok(''));
  });

  it('no framing: the body runs until the server closes', async () => {
    await expect(prober.probe(probeOf('/until-close'), 1)).resolves.toEqual(ok('all of it'));
  });

  it('skips an interim 100 Continue and judges the final status', async () => {
    await expect(prober.probe(probeOf('/continue'), 1)).resolves.toEqual({
      result: 'Failure',
      output: 'HTTP probe failed with statuscode: 503',
    });
  });

  it('follows a redirect whose empty body is chunked', async () => {
    await expect(prober.probe(probeOf('/redirect-chunked'), 1)).resolves.toEqual(ok('hello'));
  });

  it('a response that is not HTTP is a failure', async () => {
    const out = await prober.probe(probeOf('/malformed'), 1);
    expect(out).toEqual({
      result: 'Failure',
      output: `Get "http://127.0.0.1:${port}/malformed": net/http: malformed HTTP response "SSH-2.0-OpenSSH_9.2"`,
    });
  });

  it('a connection closed before any response is a failure', async () => {
    await expect(prober.probe(probeOf('/closed-early'), 1)).resolves.toEqual({
      result: 'Failure',
      output: `Get "http://127.0.0.1:${port}/closed-early": read: connection reset by peer`,
    });
  });
});

describe('HttpProber against slow servers (fake clock)', () => {
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  /** Event-loop turns (no timers) until the server has answered `path` in full. */
  async function untilAnswered(path: string): Promise<void> {
    answered.delete(path);
    while (!answered.has(path)) await turn();
    // A few more turns so that the client has read what the server wrote.
    for (let i = 0; i < 10; i++) await turn();
  }

  it('headers that never complete hit the timeout as "awaiting headers"', async () => {
    const clock = new FakeClock();
    const prober = new HttpProber(clock);
    const pending = prober.probe(probeOf('/slow-headers'), 3);
    await untilAnswered('/slow-headers');
    await clock.advance(2_999);
    await clock.advance(1);
    await expect(pending).resolves.toEqual({
      result: 'Failure',
      output: `Get "http://127.0.0.1:${port}/slow-headers": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
  });

  it('a body shorter than its Content-Length hits the timeout "while reading body"', async () => {
    const clock = new FakeClock();
    const prober = new HttpProber(clock);
    const pending = prober.probe(probeOf('/slow-body'), 1);
    await untilAnswered('/slow-body');
    await clock.advance(1_000);
    await expect(pending).resolves.toEqual({
      result: 'Failure',
      output: `Get "http://127.0.0.1:${port}/slow-body": context deadline exceeded (Client.Timeout or context cancellation while reading body)`,
    });
  });

  it('an abort signal rejects the attempt with its reason', async () => {
    const clock = new FakeClock();
    const prober = new HttpProber(clock);
    const controller = new AbortController();
    const pending = prober.probe(probeOf('/slow-headers'), 10, controller.signal);
    await untilAnswered('/slow-headers');
    const reason = new Error('worker stopped');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });
});
