import * as grpc from '@grpc/grpc-js';
import { FakeClock } from '@nodeagent/core/testing';
import { freeLoopbackPort } from '@nodeagent/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer } from '../__fixtures__/health-server.js';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
} from './grpc-health.js';
import { GrpcProber } from './grpc.js';

let health: HealthServer;
let bare: grpc.Server;
let barePort: number;
/** A loopback port nothing listens on. */
let closedPort: number;

beforeAll(async () => {
  closedPort = await freeLoopbackPort();
  health = await startHealthServer({ '': 1, db: 2, cache: 0 });
  bare = new grpc.Server();
  barePort = await new Promise<number>((resolve, reject) =>
    bare.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
});

afterAll(async () => {
  await health.close();
  bare.forceShutdown();
});

describe('health messages', () => {
  it('round-trip', () => {
    expect(decodeHealthCheckRequest(encodeHealthCheckRequest('svc/ü'))).toBe('svc/ü');
    expect(decodeHealthCheckRequest(encodeHealthCheckRequest(''))).toBe('');
    for (const s of [0, 1, 2, 3])
      expect(decodeHealthCheckResponse(encodeHealthCheckResponse(s))).toBe(s);
  });
});

describe('GrpcProber', () => {
  const prober = new GrpcProber(new FakeClock(), '1.36');

  it('SERVING is success, with the kube-probe user agent', async () => {
    await expect(prober.probe('127.0.0.1', '', health.port, 1)).resolves.toEqual({
      result: 'Success',
      output: 'service healthy',
    });
    expect(health.userAgents.at(-1)).toMatch(/^kube-probe\/1\.36/);
  });

  it('honours the service field; anything but SERVING fails', async () => {
    await expect(prober.probe('127.0.0.1', 'db', health.port, 1)).resolves.toEqual({
      result: 'Failure',
      output: 'service unhealthy (responded with "NOT_SERVING")',
    });
    await expect(prober.probe('127.0.0.1', 'cache', health.port, 1)).resolves.toEqual({
      result: 'Failure',
      output: 'service unhealthy (responded with "UNKNOWN")',
    });
    await expect(prober.probe('127.0.0.1', 'other', health.port, 1)).resolves.toEqual({
      result: 'Failure',
      output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service',
    });
  });

  it('a server without the health service fails as Unimplemented', async () => {
    const out = await prober.probe('127.0.0.1', '', barePort, 1);
    expect(out.result).toBe('Failure');
    expect(out.output).toMatch(
      /^error: this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\): /,
    );
  });

  it('a closed port is retried until the timeout, then fails like the blocking dial', async () => {
    const clock = new FakeClock();
    const timed = new GrpcProber(clock);
    let done = false;
    const pending = timed.probe('127.0.0.1', '', closedPort, 2).finally(() => {
      done = true;
    });
    // Refused connections do not end the probe early.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    await clock.advance(1_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await expect(pending).resolves.toEqual({
      result: 'Failure',
      output: `timeout: failed to connect service "127.0.0.1:${closedPort}" within 2s: context deadline exceeded`,
    });
  });

  it('rejects (an error) when aborted while connecting', async () => {
    const controller = new AbortController();
    const pending = new GrpcProber(new FakeClock()).probe(
      '127.0.0.1',
      '',
      closedPort,
      5,
      controller.signal,
    );
    controller.abort(new Error('worker stopped'));
    await expect(pending).rejects.toThrow('worker stopped');
  });

  it('times out on the injected clock', async () => {
    const clock = new FakeClock();
    const timed = new GrpcProber(clock);
    const pending = timed.probe('127.0.0.1', 'hang', health.port, 3);
    while (health.hanging === 0) await clock.advance(0);
    await clock.advance(3_000);
    await expect(pending).resolves.toEqual({
      result: 'Failure',
      output: 'timeout: health rpc did not complete within 3s',
    });
  });

  it('rejects (an error) when aborted', async () => {
    const controller = new AbortController();
    const pending = prober.probe('127.0.0.1', 'hang', health.port, 5, controller.signal);
    controller.abort(new Error('worker stopped'));
    await expect(pending).rejects.toThrow('worker stopped');
  });
});
