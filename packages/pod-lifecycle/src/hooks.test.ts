/** Lifecycle handlers as the kubelet's handlerRunner runs them. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ContainerRuntime, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LifecycleHookError,
  formatPod,
  lifecycleHookFailureMessage,
  runLifecycleHandler,
} from './hooks.js';

const pod: k8s.Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
  spec: { containers: [] },
};

function execRuntime(
  exitCode: number,
  stdout = '',
  stderr = '',
): {
  runtime: Pick<ContainerRuntime, 'execSync'>;
  calls: Array<{ cmd: string[]; timeout: number }>;
} {
  const calls: Array<{ cmd: string[]; timeout: number }> = [];
  const runtime: Pick<ContainerRuntime, 'execSync'> = {
    execSync: async (req) => {
      calls.push({ cmd: [...(req?.cmd ?? [])], timeout: req?.timeout ?? 0 });
      return {
        exitCode,
        stdout: new TextEncoder().encode(stdout),
        stderr: new TextEncoder().encode(stderr),
      };
    },
  };
  return { runtime, calls };
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function httpServer(
  status: number,
): Promise<{ port: number; paths: string[]; headers: Record<string, unknown>[] }> {
  const paths: string[] = [];
  const headers: Record<string, unknown>[] = [];
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    headers.push({ ...req.headers });
    res.statusCode = status;
    res.end('body');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, paths, headers };
}

describe('runLifecycleHandler', () => {
  it('exec: runs the command in the container; a non-zero exit rejects with the stderr and the output', async () => {
    const { runtime, calls } = execRuntime(2, 'out', 'err');
    const handler = { exec: { command: ['sh', '-c', 'exit 2'] } };
    const ctx = {
      runtime,
      clock: new FakeClock(),
      containerId: 'c1',
      container: undefined,
      podIp: '127.0.0.1',
      timeoutMs: 5_000,
    };
    const err = await runLifecycleHandler(handler, ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LifecycleHookError);
    expect((err as LifecycleHookError).message).toBe("command 'sh -c exit 2' exited with 2: err");
    expect((err as LifecycleHookError).output).toBe('outerr');
    expect(calls).toEqual([{ cmd: ['sh', '-c', 'exit 2'], timeout: 5 }]);
    expect(lifecycleHookFailureMessage(handler, 'c', pod, err)).toBe(
      `Exec lifecycle hook ([sh -c exit 2]) for Container "c" in Pod "p_ns(u1)" failed - error: command 'sh -c exit 2' exited with 2: err, message: "outerr"`,
    );
  });

  it('httpGet: any HTTP answer is a success, as in the kubelet (a 500 too); the path gets its leading slash', async () => {
    const { port, paths } = await httpServer(500);
    await runLifecycleHandler(
      { httpGet: { path: 'echo?msg=poststart', port } },
      {
        runtime: execRuntime(0).runtime,
        clock: new FakeClock(),
        containerId: 'c1',
        container: undefined,
        podIp: '127.0.0.1',
        timeoutMs: 5_000,
      },
    );
    expect(paths).toEqual(['/echo?msg=poststart']);
  });

  it('httpGet: an HTTPS hook answered in plain HTTP is retried over HTTP without Authorization, and reported (kubelet LifecycleHTTPFallback)', async () => {
    const { port, paths, headers } = await httpServer(200);
    const fallbacks: string[] = [];
    await runLifecycleHandler(
      {
        httpGet: {
          path: '/hook',
          port,
          scheme: 'HTTPS',
          httpHeaders: [
            { name: 'Authorization', value: 'Bearer secret' },
            { name: 'X-Custom', value: 'kept' },
          ],
        },
      },
      {
        runtime: execRuntime(0).runtime,
        clock: new FakeClock(),
        containerId: 'c1',
        container: undefined,
        podIp: '127.0.0.1',
        timeoutMs: 5_000,
        onHttpFallback: (hostPort) => fallbacks.push(hostPort),
      },
    );
    // The HTTPS attempt never reached the HTTP handler; the plain retry did.
    expect(paths).toEqual(['/hook']);
    expect(headers[0]).toMatchObject({
      'user-agent': 'kube-lifecycle/1.36',
      accept: '*/*',
      'x-custom': 'kept',
    });
    expect(headers[0]?.authorization).toBeUndefined();
    expect(fallbacks).toEqual([`127.0.0.1:${port}`]);
  });

  it('httpGet: an HTTPS hook on a closed port fails without a fallback', async () => {
    const { port } = await httpServer(200);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const fallbacks: string[] = [];
    const err = await runLifecycleHandler(
      { httpGet: { path: '/hook', port, scheme: 'HTTPS' } },
      {
        runtime: execRuntime(0).runtime,
        clock: new FakeClock(),
        containerId: 'c1',
        container: undefined,
        podIp: '127.0.0.1',
        timeoutMs: 5_000,
        onHttpFallback: (hostPort) => fallbacks.push(hostPort),
      },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err)).toContain('ECONNREFUSED');
    expect(fallbacks).toEqual([]);
  });

  it('httpGet: a refused connection fails the hook', async () => {
    const { port } = await httpServer(200);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const handler = { httpGet: { path: '/hook', port } };
    const err = await runLifecycleHandler(handler, {
      runtime: execRuntime(0).runtime,
      clock: new FakeClock(),
      containerId: 'c1',
      container: { name: 'c', ports: [] },
      podIp: '127.0.0.1',
      timeoutMs: 5_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err)).toContain('ECONNREFUSED');
    expect(lifecycleHookFailureMessage(handler, 'c', pod, err)).toMatch(
      /^HTTP lifecycle hook \(\/hook\) for Container "c" in Pod "p_ns\(u1\)" failed - error: .*ECONNREFUSED/,
    );
  });

  it('sleep: waits on the clock, cut short at the grace period', async () => {
    const clock = new FakeClock();
    const ctx = {
      runtime: execRuntime(0).runtime,
      clock,
      containerId: 'c1',
      container: undefined,
      podIp: '127.0.0.1',
      timeoutMs: 3_000,
    };
    let done = false;
    const run = runLifecycleHandler({ sleep: { seconds: 50 } }, ctx).then(() => (done = true));
    await clock.advance(2_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await run;
    expect(done).toBe(true);
    // zero seconds returns at once
    await runLifecycleHandler({ sleep: { seconds: 0 } }, ctx);
  });

  it('formats the pod as the kubelet does', () => {
    expect(formatPod(pod)).toBe('p_ns(u1)');
  });
});
