import { request } from 'node:http';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApiServer, type TestApiServer } from './test-api-server.js';

let server: TestApiServer;
let clock: FakeClock;

beforeEach(async () => {
  clock = new FakeClock();
  server = await startTestApiServer({ clock });
});
afterEach(async () => {
  await server.stop();
});

const cm = (name: string): string => JSON.stringify({ metadata: { name } });

async function post(name: string): Promise<Response> {
  return fetch(`${server.url}/api/v1/namespaces/default/configmaps`, {
    method: 'POST',
    body: cm(name),
    headers: { 'Content-Type': 'application/json' },
  });
}

/** Opens a watch and resolves with a reader of its lines and how it ended. */
function openWatch(path: string): Promise<{ lines: string[]; ended: Promise<'end' | 'aborted'> }> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const req = request(server.url + path, (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        const parts = buffer.split('\n');
        buffer = parts.pop() ?? '';
        lines.push(...parts);
      });
      const ended = new Promise<'end' | 'aborted'>((done) => {
        res.on('end', () => done('end'));
        res.on('aborted', () => done('aborted'));
        res.on('error', () => done('aborted'));
      });
      resolve({ lines, ended });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Yields to the event loop until `cond` holds (no timers involved). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((r) => setImmediate(r));
}

describe('fault injection', () => {
  it('fails matching requests with the Status of the code, a limited number of times', async () => {
    server.faults.failRequests({
      match: { verb: 'create', resource: 'configmaps' },
      code: 500,
      times: 2,
    });
    server.faults.failRequests({ match: { verb: 'list' }, code: 429, retryAfterSeconds: 1 });
    const first = await post('a');
    expect(first.status).toBe(500);
    expect(await first.json()).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
    });
    expect((await post('a')).status).toBe(500);
    expect((await post('a')).status).toBe(201);
    const listed = await fetch(`${server.url}/api/v1/configmaps`);
    expect(listed.status).toBe(429);
    expect(listed.headers.get('retry-after')).toBe('1');
    expect(await listed.json()).toMatchObject({ reason: 'TooManyRequests' });
    expect((await fetch(`${server.url}/api/v1/namespaces/default/configmaps/a`)).status).toBe(200);
    server.faults.clear();
    expect((await fetch(`${server.url}/api/v1/configmaps`)).status).toBe(200);
    expect(server.requests.map((r) => r.status)).toEqual([500, 500, 201, 429, 200, 200]);
  });

  it('answers a 410 on a watch when asked and removes a rule through its handle', async () => {
    const remove = server.faults.failRequests({
      match: { verb: 'watch', resource: 'pods' },
      code: 410,
    });
    const res = await fetch(`${server.url}/api/v1/pods?watch=true`);
    expect(res.status).toBe(410);
    expect(await res.json()).toMatchObject({ reason: 'Expired', code: 410 });
    remove();
    const w = await openWatch('/api/v1/pods?watch=true');
    await until(() => server.openWatches === 1);
    server.faults.dropWatches();
    expect(await w.ended).toBe('end');
  });

  it('adds latency on the server clock', async () => {
    server.faults.addLatency({ match: { resource: 'configmaps' }, delayMs: 5000 });
    let done = false;
    const pending = post('slow').then((r) => {
      done = true;
      return r;
    });
    await until(() => clock.pendingTimers() > 0);
    await clock.advance(4999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect((await pending).status).toBe(201);
  });

  it('drops watches abruptly and stalls them silently', async () => {
    // From the current resourceVersion: no initial events (kube-root-ca.crt is in every namespace).
    const rv = String(server.store.resourceVersion);
    const dropped = await openWatch(
      `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`,
    );
    const stalled = await openWatch(
      `/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`,
    );
    await until(() => server.openWatches === 2);
    expect(server.faults.stallWatches()).toBe(2);
    const fresh = await openWatch(
      `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`,
    );
    await until(() => server.openWatches === 3);
    await post('x');
    await until(() => fresh.lines.length === 1);
    await clock.advance(120_000);
    expect(stalled.lines).toEqual([]);
    expect(dropped.lines).toEqual([]);
    expect(server.faults.dropWatches({ abort: true })).toBe(3);
    expect(await dropped.ended).toBe('aborted');
    expect(server.openWatches).toBe(0);
  });

  it('goes down and comes back on the same port with its state', async () => {
    expect((await post('keep')).status).toBe(201);
    const w = await openWatch('/api/v1/configmaps?watch=true');
    await until(() => server.openWatches === 1);
    await server.faults.goDown();
    expect(server.faults.down).toBe(true);
    expect(await w.ended).toBe('aborted');
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    await server.faults.comeBack();
    expect(server.faults.down).toBe(false);
    expect((await fetch(`${server.url}/api/v1/namespaces/default/configmaps/keep`)).status).toBe(
      200,
    );
  });
});
