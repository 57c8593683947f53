import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { HealthzServer } from './healthz-server.js';
import { pingHealthCheck, type HealthCheck } from './healthz.js';

/** A logger that keeps the messages it is given. */
function recordingLogger(messages: string[]): Logger {
  const log = (message: string) => void messages.push(message);
  const logger: Logger = { error: log, warn: log, info: log, debug: log, child: () => logger };
  return logger;
}

let servers: HealthzServer[] = [];
let blockers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(blockers.map((b) => new Promise((r) => b.close(r))));
  servers = [];
  blockers = [];
});

function healthz(options: Partial<ConstructorParameters<typeof HealthzServer>[0]> = {}) {
  const s = new HealthzServer({ clock: new FakeClock(), port: 0, ...options });
  servers.push(s);
  return s;
}

async function get(port: number, path: string): Promise<[number, string, string | null]> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return [res.status, await res.text(), res.headers.get('content-type')];
}

describe('HealthzServer', () => {
  it('serves the kubelet plain-HTTP healthz: ok, verbose, one check, 404 elsewhere', async () => {
    const s = healthz();
    await s.start();
    const port = s.port!;
    expect(await get(port, '/healthz')).toEqual([200, 'ok', 'text/plain; charset=utf-8']);
    expect((await get(port, '/healthz?verbose'))[1]).toBe('[+]ping ok\nhealthz check passed\n');
    expect((await get(port, '/healthz/ping'))[1]).toBe('ok');
    expect((await get(port, '/healthz/syncloop'))[0]).toBe(404);
    expect((await get(port, '/metrics'))[0]).toBe(404);
  });

  it('a failing check makes /healthz answer 500 with the listing', async () => {
    const broken: HealthCheck = {
      name: 'syncloop',
      check: () => {
        throw new Error('pleg was last seen active 3m5s ago');
      },
    };
    const s = healthz({ checks: [pingHealthCheck, broken] });
    await s.start();
    expect(await get(s.port!, '/healthz')).toEqual([
      500,
      '[+]ping ok\n[-]syncloop failed: reason withheld\nhealthz check failed\n',
      'text/plain; charset=utf-8',
    ]);
  });

  it('a taken port is logged and retried every 5 s, without failing start', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const clock = new FakeClock();
    const messages: string[] = [];
    const logger = recordingLogger(messages);
    const s = healthz({ clock, port, logger });
    await s.start();
    expect(s.listening).toBe(false);
    expect(messages).toContain('Failed to start healthz server');
    expect(clock.nextTimerDelay()).toBe(5_000);
    await new Promise((r) => blocker.close(r));
    blockers = [];
    await clock.advance(5_000);
    while (!s.listening) await new Promise((r) => setImmediate(r));
    expect((await get(port, '/healthz'))[1]).toBe('ok');
    await s.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stop while retrying cancels the retry', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const clock = new FakeClock();
    const s = healthz({ clock, port: (blocker.address() as AddressInfo).port });
    await s.start();
    expect(clock.pendingTimers()).toBe(1);
    await s.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
