import * as http from 'node:http';
import type * as net from 'node:net';
import type { k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveProbe, resolveProbeLeniently } from '../probe-spec.js';
import { DefaultProbeRunner } from './runner.js';

let server: http.Server;
let port: number;
const paths: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200).end('fine');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('DefaultProbeRunner httpGet request reuse', () => {
  const runner = new DefaultProbeRunner({
    runtime: { execSync: () => Promise.reject(new Error('unused')) },
    clock: new FakeClock(),
  });
  const pod: k8s.Pod = { metadata: { name: 'p', uid: 'u' }, spec: { containers: [] } };
  const target = (container: k8s.Container, podIP: string) => ({
    pod,
    status: { podIP },
    container,
    containerId: 'containerd://c',
    signal: new AbortController().signal,
  });

  it('reuses the built request for the same spec, rebuilds when the pod IP or container changes', async () => {
    const probe = resolveProbe({ httpGet: { port: 'web', path: '/a' } });
    const c1: k8s.Container = { name: 'c', ports: [{ name: 'web', containerPort: port }] };
    paths.length = 0;
    for (let i = 0; i < 3; i++)
      await expect(runner.run(probe, target(c1, '127.0.0.1'))).resolves.toEqual({
        result: 'Success',
        output: 'fine',
      });
    expect(paths).toEqual(['/a', '/a', '/a']);

    // Same spec, new pod IP: the request goes to the new address.
    const other = await runner.run(probe, target(c1, '::1'));
    expect(other.output).toContain(`Get "http://[::1]:${port}/a"`);

    // Same spec, a container whose named port resolves elsewhere.
    const c2: k8s.Container = { name: 'c', ports: [{ name: 'web', containerPort: 1 }] };
    const moved = await runner.run(probe, target(c2, '127.0.0.1'));
    expect(moved).toEqual({
      result: 'Failure',
      output: 'Get "http://127.0.0.1:1/a": dial tcp 127.0.0.1:1: connect: connection refused',
    });
  });

  it('an unresolvable named port still throws on every attempt', () => {
    const probe = resolveProbe({ httpGet: { port: 'nope' } });
    const c: k8s.Container = { name: 'c' };
    expect(() => runner.run(probe, target(c, '127.0.0.1'))).toThrow('parsing "nope"');
    expect(() => runner.run(probe, target(c, '127.0.0.1'))).toThrow('parsing "nope"');
  });

  it('rejects an invalid probe with its reason and runs nothing', async () => {
    let execs = 0;
    const counting = new DefaultProbeRunner({
      runtime: {
        execSync: () => {
          execs++;
          return Promise.reject(new Error('unused'));
        },
      },
      clock: new FakeClock(),
    });
    const c: k8s.Container = { name: 'c' };
    const p: k8s.Pod = {
      metadata: { name: 'p', namespace: 'ns', uid: 'u' },
      spec: { containers: [c] },
    };
    const { probe, reasons } = resolveProbeLeniently(p, c, 'Liveness', { periodSeconds: 0 }, 'x');
    expect(reasons).toEqual([
      'x: Required value: must specify a handler type',
      'x.periodSeconds: Invalid value: 0: must be greater than 0',
    ]);
    expect(probe).toMatchObject({
      handler: { kind: 'invalid', reason: 'missing probe handler for p_ns(u):c' },
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
      initialDelaySeconds: 0,
    });
    await expect(counting.run(probe, target(c, '127.0.0.1'))).rejects.toThrow(
      'missing probe handler for p_ns(u):c',
    );
    expect(execs).toBe(0);
  });
});
