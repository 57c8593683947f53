import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PodAnnotation, type Logger, type LogFields } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { podManifest, UpdateRecorder } from './__fixtures__/update-recorder.js';
import { MAX_CONFIG_LENGTH } from './decode.js';
import {
  createHttpSource,
  type HttpSourceOptions,
  type StaticPodUrlSource,
} from './http-source.js';
import type { ManifestError } from './pod-set-publisher.js';

interface Reply {
  status: number;
  body: string | Buffer;
}

class CapturingLogger implements Logger {
  readonly lines: { level: string; message: string; fields: LogFields | undefined }[] = [];
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'error', message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'info', message, fields });
  }
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'debug', message, fields });
  }
  child(): Logger {
    return this;
  }
}

const podList = (...names: string[]): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'PodList',
    items: names.map((name) => ({
      metadata: { name },
      spec: { containers: [{ name: 'main', image: 'busybox' }] },
    })),
  });

let server: Server;
let url: string;
let reply: Reply;
let requests: IncomingHttpHeaders[];
let clock: FakeClock;
let errors: ManifestError[];
let logger: CapturingLogger;
const sources: StaticPodUrlSource[] = [];

function newSource(overrides: Partial<HttpSourceOptions> = {}): StaticPodUrlSource {
  const source = createHttpSource({
    url,
    nodeName: 'node-1',
    clock,
    logger,
    onError: (e) => errors.push(e),
    ...overrides,
  });
  sources.push(source);
  return source;
}

beforeEach(async () => {
  clock = new FakeClock();
  errors = [];
  logger = new CapturingLogger();
  requests = [];
  reply = { status: 200, body: podManifest('web') };
  server = createServer((req, res) => {
    requests.push(req.headers);
    res.statusCode = reply.status;
    res.end(reply.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/manifests`;
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('StaticPodUrlSource', () => {
  it('reads a single pod, with the http identity', async () => {
    const source = newSource();
    const recorder = new UpdateRecorder(source);
    source.start();
    const update = await recorder.waitForNames(['web-node-1']);
    expect(update.source).toBe('http');
    const pod = update.pods[0];
    expect(pod?.metadata.uid).toMatch(/^[0-9a-f]{32}$/);
    expect(pod?.metadata.annotations).toMatchObject({
      [PodAnnotation.ConfigSource]: 'http',
      [PodAnnotation.ConfigHash]: pod?.metadata.uid,
      [PodAnnotation.ConfigSeen]: new Date(clock.now()).toISOString(),
    });
    expect(pod?.spec.nodeName).toBe('node-1');
  });

  it('reads a PodList and polls every pollPeriodMs on the clock', async () => {
    reply = { status: 200, body: podList('a', 'b') };
    const source = newSource({ pollPeriodMs: 20_000 });
    const recorder = new UpdateRecorder(source);
    source.start();
    await recorder.waitForNames(['a-node-1', 'b-node-1']);
    expect(requests).toHaveLength(1);

    reply = { status: 200, body: podList('b') };
    await clock.advance(19_999);
    expect(requests).toHaveLength(1);
    await clock.advance(1);
    await recorder.waitForNames(['b-node-1']);
    expect(requests).toHaveLength(2);
  });

  it('does not emit again for an unchanged body', async () => {
    const source = newSource();
    const recorder = new UpdateRecorder(source);
    source.start();
    await recorder.waitForNames(['web-node-1']);
    await clock.advance(20_000);
    await source.poll();
    await clock.advance(20_000);
    await source.poll();
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(recorder.updates).toHaveLength(1);
  });

  it('sends the configured headers', async () => {
    const source = newSource({ headers: { Authorization: 'Bearer t', 'X-Multi': ['a', 'b'] } });
    source.start();
    await source.poll();
    expect(requests[0]?.['authorization']).toBe('Bearer t');
    expect(requests[0]?.['x-multi']).toBe('a, b');
  });

  it('keeps the last good set on 404, garbage, an invalid pod and an unreachable server', async () => {
    const source = newSource();
    const recorder = new UpdateRecorder(source);
    source.start();
    await recorder.waitForNames(['web-node-1']);

    reply = { status: 404, body: 'not found' };
    await source.poll();
    reply = { status: 200, body: '{{{ not yaml' };
    await source.poll();
    reply = { status: 200, body: 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n' };
    await source.poll();
    reply = { status: 200, body: podList('ok', 'x').replace('"busybox"}]}}]', '""}]}}]') };
    await source.poll();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await source.poll();

    expect(recorder.updates).toHaveLength(1);
    expect(recorder.lastNames()).toEqual(['web-node-1']);
    expect(errors.map((e) => e.reason)).toEqual([
      expect.stringMatching(/^invalid YAML or JSON/) as string,
      'not a v1 Pod or PodList (kind is "Service", apiVersion is "v1")',
      'invalid pod: items[1].spec.containers[0].image: Required',
    ]);
    expect(errors.every((e) => e.file === url && e.source === 'http')).toBe(true);
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings[0]).toEqual({
      level: 'warn',
      message: 'Failed to read pods from URL',
      fields: { reason: `${url}: 404 Not Found` },
    });
    // The fifth failure in a row: logged at debug level, as the kubelet's V(4).
    const refused = logger.lines.find((l) => /ECONNREFUSED/.test(String(l.fields?.['reason'])));
    expect(refused?.level).toBe('debug');
  });

  it('recovers when the URL serves a good manifest again', async () => {
    reply = { status: 500, body: 'boom' };
    const source = newSource();
    const recorder = new UpdateRecorder(source);
    source.start();
    await source.poll();
    expect(recorder.updates).toHaveLength(0);
    reply = { status: 200, body: podManifest('web') };
    await clock.advance(20_000);
    await recorder.waitForNames(['web-node-1']);
    expect(logger.lines.some((l) => l.message === 'Successfully read pods from URL')).toBe(true);
  });

  it('drops the verbosity after three failures in a row, as the kubelet', async () => {
    reply = { status: 503, body: '' };
    const source = newSource();
    source.start();
    for (let i = 0; i < 6; i++) {
      await source.poll();
      await clock.advance(20_000);
    }
    const failures = logger.lines.filter((l) =>
      l.message.startsWith('Failed to read pods from URL'),
    );
    expect(failures.slice(0, 4).map((l) => l.level)).toEqual(['warn', 'warn', 'warn', 'warn']);
    expect(failures[3]?.message).toMatch(/Dropping verbosity/);
    expect(failures.slice(4).every((l) => l.level === 'debug')).toBe(true);
  });

  it('empties the set on an empty 200 body (the kubelet empty SET)', async () => {
    const source = newSource();
    const recorder = new UpdateRecorder(source);
    source.start();
    await recorder.waitForNames(['web-node-1']);
    reply = { status: 200, body: '' };
    await source.poll();
    expect(recorder.lastNames()).toEqual([]);
  });

  it('rejects bodies over 10 MiB', async () => {
    reply = { status: 200, body: Buffer.alloc(MAX_CONFIG_LENGTH + 1, 0x20) };
    const source = newSource();
    const recorder = new UpdateRecorder(source);
    source.start();
    await source.poll();
    expect(recorder.updates).toHaveLength(0);
    expect(
      logger.lines.some((l) =>
        /larger than the limit of 10485760 bytes/.test(String(l.fields?.['reason'])),
      ),
    ).toBe(true);
  });

  it('times out a request that hangs, on the clock', async () => {
    const hanging = createServer(() => {
      // Never answers.
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hanging.address() as AddressInfo).port;
      const source = newSource({ url: `http://127.0.0.1:${port}/`, timeoutMs: 10_000 });
      source.start();
      await clock.advance(9_999);
      expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
      await clock.advance(1);
      await vi.waitFor(() =>
        expect(
          logger.lines.some((l) => /timed out after 10000 ms/.test(String(l.fields?.['reason']))),
        ).toBe(true),
      );
      await source.stop();
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    }
  });

  it('stop() cancels the poll timer', async () => {
    const source = newSource();
    source.start();
    await source.poll();
    expect(clock.pendingTimers()).toBe(1);
    await source.stop();
    expect(clock.pendingTimers()).toBe(0);
    const count = requests.length;
    await clock.advance(60_000);
    expect(requests).toHaveLength(count);
  });

  it('refuses URLs that are not http or https', () => {
    expect(() => newSource({ url: 'file:///etc/kubernetes/manifests' })).toThrow(/http: or https:/);
  });
});
