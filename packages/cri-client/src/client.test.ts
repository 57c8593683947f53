/**
 * Client behaviour that a healthy containerd cannot show on demand (an old CRI
 * version, stalled calls, failing streams) against an in-process gRPC server on a
 * unix socket. Everything else is covered against the real runtime in
 * client.integration.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Server,
  ServerCredentials,
  status,
  type MethodDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  RuntimeVersionUnsupportedError,
  UnavailableError,
  isNodeAgentError,
} from '@nodeagent/core';
import { InMemoryMetrics } from '@nodeagent/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createCriClient, type CriCallEvent, type CriClient } from './client.js';
import { criSchema, decodeOptions } from './codec.js';
import { runtimeServiceMethods } from './generated/descriptor.js';

type Handler = (request: Record<string, unknown>, call: unknown) => unknown;

interface FakeServer {
  socket: string;
  stop(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A RuntimeService whose methods are the given handlers; others answer UNIMPLEMENTED. */
async function startFakeRuntime(handlers: Record<string, Handler>): Promise<FakeServer> {
  const dir = mkdtempSync(join(tmpdir(), 'na-cri-'));
  const socket = join(dir, 'cri.sock');
  const definition: Record<string, MethodDefinition<object, object>> = {};
  const impl: Record<string, unknown> = {};
  for (const [name, info] of Object.entries(runtimeServiceMethods)) {
    const req = criSchema().lookupType(info.requestType);
    const res = criSchema().lookupType(info.responseType);
    definition[name] = {
      path: info.path,
      requestStream: false,
      responseStream: info.responseStream,
      requestSerialize: (v: object) => Buffer.from(req.encode(req.fromObject(v)).finish()),
      requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), decodeOptions),
      responseSerialize: (v: object) => Buffer.from(res.encode(res.fromObject(v)).finish()),
      responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), decodeOptions),
      originalName: name,
    };
    const handler = handlers[name];
    impl[name] = info.responseStream
      ? (call: { request: Record<string, unknown>; emit(event: 'error', err: unknown): void }) => {
          if (handler) void handler(call.request, call);
          else
            call.emit('error', { code: status.UNIMPLEMENTED, details: `unknown method ${name}` });
        }
      : (
          call: { request: Record<string, unknown> },
          callback: (err: unknown, value?: unknown) => void,
        ) => {
          if (!handler) {
            callback({ code: status.UNIMPLEMENTED, details: `unknown method ${name}` });
            return;
          }
          Promise.resolve()
            .then(() => handler(call.request, call))
            .then(
              (value) => callback(null, value),
              (err: unknown) => callback(err),
            );
        };
  }
  const server = new Server();
  server.addService(definition, impl as UntypedServiceImplementation);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  const stop = async (): Promise<void> => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(stop);
  return { socket, stop };
}

function client(
  socket: string,
  extra: Partial<Parameters<typeof createCriClient>[0]> = {},
): CriClient {
  const c = createCriClient({ endpoint: `unix://${socket}`, ...extra });
  cleanups.push(() => c.close());
  return c;
}

const v1 = {
  version: '0.1.0',
  runtimeName: 'fake',
  runtimeVersion: '1.0',
  runtimeApiVersion: 'v1',
};

describe('createCriClient against an in-process runtime', () => {
  it('connect() returns the Version response of a v1 runtime', async () => {
    const server = await startFakeRuntime({ version: () => v1 });
    await expect(client(server.socket).connect()).resolves.toEqual(v1);
  });

  it('connect() rejects a runtime that speaks another CRI version', async () => {
    const server = await startFakeRuntime({
      version: () => ({ ...v1, runtimeApiVersion: 'v1alpha2' }),
    });
    const err = await client(server.socket)
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeVersionUnsupportedError);
    expect((err as Error).message).toMatch(/speaks CRI v1alpha2, but nodeagent needs v1/);
  });

  it('connect() rejects a runtime without the runtime.v1 service', async () => {
    const server = await startFakeRuntime({});
    const err = await client(server.socket)
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeVersionUnsupportedError);
    expect((err as Error).message).toMatch(/does not implement CRI v1/);
  });

  it('maps gRPC statuses to typed errors naming the method and keeping the runtime message', async () => {
    const server = await startFakeRuntime({
      containerStatus: () => {
        throw { code: status.NOT_FOUND, details: 'container "abc" not found' };
      },
      createContainer: () => {
        throw { code: status.INVALID_ARGUMENT, details: 'bad config' };
      },
    });
    const c = client(server.socket);
    const err = await c.containerStatus({ containerId: 'abc' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({
      code: 'NotFound',
      operation: 'RuntimeService/ContainerStatus',
      detail: 'container "abc" not found',
    });
    expect((err as Error).message).toBe(
      'RuntimeService/ContainerStatus: container "abc" not found',
    );
    await expect(c.createContainer({})).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('enforces per-call deadlines and reports DeadlineExceeded', async () => {
    const server = await startFakeRuntime({ status: () => new Promise(() => {}) });
    const started = performance.now();
    const err = await client(server.socket)
      .status({}, { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('cancels through an AbortSignal, before and during the call', async () => {
    const server = await startFakeRuntime({ status: () => new Promise(() => {}) });
    const c = client(server.socket);
    const ac = new AbortController();
    const pending = c.status({}, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await expect(c.status({}, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      CancelledError,
    );
  });

  it('reports every call to the onCall hook and the kubelet runtime metrics', async () => {
    const server = await startFakeRuntime({
      version: () => v1,
      removeContainer: () => {
        throw { code: status.NOT_FOUND, details: 'gone' };
      },
    });
    const events: CriCallEvent[] = [];
    const metrics = new InMemoryMetrics();
    const c = client(server.socket, { onCall: (e) => events.push(e), metrics });
    await c.version({});
    await c.removeContainer({ containerId: 'x' }).catch(() => undefined);
    expect(events.map((e) => [e.operation, e.outcome])).toEqual([
      ['RuntimeService/Version', 'ok'],
      ['RuntimeService/RemoveContainer', 'NotFound'],
    ]);
    expect(events.every((e) => e.durationMs >= 0)).toBe(true);
    expect(metrics.value('kubelet_runtime_operations_total', { operation_type: 'version' })).toBe(
      1,
    );
    expect(
      metrics.value('kubelet_runtime_operations_errors_total', {
        operation_type: 'remove_container',
      }),
    ).toBe(1);
    expect(
      metrics.observations('kubelet_runtime_operations_duration_seconds', {
        operation_type: 'version',
      }),
    ).toHaveLength(1);
  });

  it('streams container events until aborted, then ends without an error', async () => {
    const server = await startFakeRuntime({
      getContainerEvents: (_req, call) => {
        const stream = call as { write(v: unknown): void };
        stream.write({
          containerId: 'c1',
          containerEventType: 'CONTAINER_STARTED_EVENT',
          createdAt: 1,
        });
        stream.write({
          containerId: 'c1',
          containerEventType: 'CONTAINER_STOPPED_EVENT',
          createdAt: 2,
        });
      },
    });
    const ac = new AbortController();
    const seen: Array<[string, string]> = [];
    for await (const event of client(server.socket).getContainerEvents({}, { signal: ac.signal })) {
      seen.push([event.containerId, event.containerEventType]);
      if (seen.length === 2) ac.abort();
    }
    expect(seen).toEqual([
      ['c1', 'CONTAINER_STARTED_EVENT'],
      ['c1', 'CONTAINER_STOPPED_EVENT'],
    ]);
  });

  it('reports stream errors as typed errors', async () => {
    const server = await startFakeRuntime({});
    const iterate = async (): Promise<void> => {
      for await (const _ of client(server.socket).getContainerEvents({})) {
        // no events expected
      }
    };
    const err = await iterate().catch((e: unknown) => e);
    expect(isNodeAgentError(err, 'Unimplemented')).toBe(true);
  });

  it('fails fast with Unavailable naming the socket while the runtime is down, and recovers', async () => {
    const server = await startFakeRuntime({ version: () => v1 });
    const c = client(server.socket, { reconnectBackoffMs: { initial: 20, max: 50 } });
    await expect(c.version({})).resolves.toEqual(v1);
    await server.stop();
    const started = performance.now();
    const err = await c.version({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain(server.socket);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('rejects at once for a socket that does not exist, naming the path', async () => {
    const missing = join(tmpdir(), 'nodeagent-no-such-dir', 'containerd.sock');
    const started = performance.now();
    const err = await client(missing)
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      `RuntimeService/Version: container runtime socket ${missing} does not exist (is the runtime running?)`,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
