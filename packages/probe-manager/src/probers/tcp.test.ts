import * as net from 'node:net';
import { FakeClock } from '@nodeagent/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort } from '@nodeagent/testkit';
import { TcpProber } from './tcp.js';

let server: net.Server;
let port: number;
const accepted: net.Socket[] = [];

beforeAll(async () => {
  server = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of accepted) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('TcpProber', () => {
  it('succeeds when the port accepts a connection', async () => {
    const prober = new TcpProber(new FakeClock());
    await expect(prober.probe('127.0.0.1', port, 1)).resolves.toEqual({
      result: 'Success',
      output: '',
    });
  });

  it('fails with the dialer message when the port is closed', async () => {
    const closed = await freeLoopbackPort();
    const prober = new TcpProber(new FakeClock());
    await expect(prober.probe('127.0.0.1', closed, 1)).resolves.toEqual({
      result: 'Failure',
      output: `dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    });
  });

  it('fails with i/o timeout when the timeout fires first', async () => {
    // A clock whose timers fire on the next microtask: before any connect can complete.
    const instant = { setTimeout: (fn: () => void) => (queueMicrotask(fn), { cancel() {} }) };
    const prober = new TcpProber(instant);
    await expect(prober.probe('127.0.0.1', port, 1)).resolves.toEqual({
      result: 'Failure',
      output: `dial tcp 127.0.0.1:${port}: i/o timeout`,
    });
  });

  it('rejects (an error, not a failure) when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    await expect(
      new TcpProber(new FakeClock()).probe('127.0.0.1', port, 1, controller.signal),
    ).rejects.toThrow('stopped');
  });
});
