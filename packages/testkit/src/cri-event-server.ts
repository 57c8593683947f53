import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status as grpcStatus,
  type CallOptions as GrpcCallOptions,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { cri } from '@nodeagent/core';
import protobuf from 'protobufjs';

/** One gRPC method of a CRI service, as `@nodeagent/cri-client` describes it. */
export interface CriEventServerMethodInfo {
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly responseStream: boolean;
}

/**
 * The CRI schema the server speaks: pass `criDescriptor`, `runtimeServiceMethods` and
 * `imageServiceMethods` from `@nodeagent/cri-client` (testkit does not depend on
 * cri-client, which uses testkit for its own tests).
 */
export interface CriEventServerSchema {
  descriptor: Readonly<Record<string, unknown>>;
  runtimeServiceMethods: Readonly<Record<string, CriEventServerMethodInfo>>;
  imageServiceMethods: Readonly<Record<string, CriEventServerMethodInfo>>;
}

/** Options of {@link startCriEventServer}. */
export interface CriEventServerOptions {
  /** Socket of the real runtime every call is forwarded to. */
  upstreamSocket: string;
  schema: CriEventServerSchema;
  /** Where to listen; default a socket in a new temp directory. */
  socketPath?: string;
  /** How often the real runtime is relisted while a stream is open; default 20 ms. */
  pollIntervalMs?: number;
}

/** A running CRI event server. */
export interface CriEventServer {
  /** `unix://<socketPath>`, for a CRI client. */
  readonly endpoint: string;
  readonly socketPath: string;
  /** Fails every open GetContainerEvents stream with `code` (default UNAVAILABLE). */
  breakStreams(code?: number, details?: string): void;
  /** Answers further GetContainerEvents calls with `code` until called with undefined. */
  refuseStreams(code: number | undefined): void;
  /** Number of open GetContainerEvents streams. */
  openStreams(): number;
  /** Events written to streams so far. */
  eventsSent(): number;
  /** Stops polling, ends the streams, closes the server and the upstream connection. */
  stop(): Promise<void>;
}

const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

const mutatingMethods = new Set([
  'runPodSandbox',
  'stopPodSandbox',
  'removePodSandbox',
  'createContainer',
  'startContainer',
  'stopContainer',
  'removeContainer',
]);

const identity = (b: Buffer): Buffer => b;

interface Snapshot {
  sandboxes: Map<string, cri.PodSandbox>;
  containers: Map<string, cri.Container>;
}

/**
 * A real CRI gRPC server on a unix socket, for testing event-driven consumers against
 * a runtime that does not implement `GetContainerEvents` (containerd 1.6): every
 * RuntimeService and ImageService call is forwarded as raw bytes to the real runtime;
 * `GetContainerEvents` is served here, from changes seen by relisting the real runtime
 * every `pollIntervalMs` while a stream is open and right after every mutating call
 * that passes through. Events carry the sandbox status and the statuses of the
 * sandbox's containers, like containerd 2's. Sandboxes get events too (the sandbox ID
 * as `containerId`). Uses real timers: it is test infrastructure, not a component.
 */
export async function startCriEventServer(options: CriEventServerOptions): Promise<CriEventServer> {
  const root = protobuf.Root.fromJSON(options.schema.descriptor);
  const allMethods = {
    ...options.schema.runtimeServiceMethods,
    ...options.schema.imageServiceMethods,
  };
  const eventsInfo = options.schema.runtimeServiceMethods.getContainerEvents;
  if (!eventsInfo) throw new Error('the CRI schema has no getContainerEvents');
  const eventType = root.lookupType(eventsInfo.responseType);
  const codec = (
    name: string,
  ): {
    encode: (v: object) => Buffer;
    decode: (b: Buffer) => unknown;
    path: string;
  } => {
    const info = allMethods[name];
    if (!info) throw new Error(`no CRI method ${name}`);
    const req = root.lookupType(info.requestType);
    const res = root.lookupType(info.responseType);
    return {
      path: info.path,
      encode: (v) => Buffer.from(req.encode(req.fromObject(v)).finish()),
      decode: (b) => res.toObject(res.decode(b), decodeOptions),
    };
  };

  let dir: string | undefined;
  let socketPath = options.socketPath;
  if (!socketPath) {
    dir = mkdtempSync(join(tmpdir(), 'na-cri-events-'));
    socketPath = join(dir, 'cri.sock');
  }
  const upstream = new Client(`unix://${options.upstreamSocket}`, credentials.createInsecure());
  const pollIntervalMs = options.pollIntervalMs ?? 20;

  const upstreamUnary = (path: string, request: Buffer, deadline?: Date): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const callOptions: GrpcCallOptions = deadline ? { deadline } : {};
      upstream.makeUnaryRequest(
        path,
        identity,
        identity,
        request,
        new Metadata(),
        callOptions,
        (err: ServiceError | null, value?: Buffer) => {
          if (err) reject(err);
          else resolve(value ?? Buffer.alloc(0));
        },
      );
    });
  const call = async <T>(name: string, request: object): Promise<T> => {
    const c = codec(name);
    return c.decode(
      await upstreamUnary(c.path, c.encode(request), new Date(Date.now() + 10_000)),
    ) as T;
  };

  // ------------------------------------------------------------ events
  const streams = new Set<ServerWritableStream<Buffer, Buffer>>();
  let refuseCode: number | undefined;
  let sent = 0;
  let previous: Snapshot | undefined;
  const lastSandboxStatus = new Map<string, cri.PodSandboxStatus>();
  let polling: Promise<void> | undefined;
  let pollAgain = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const snapshot = async (): Promise<Snapshot> => {
    const [sb, ctr] = await Promise.all([
      call<cri.ListPodSandboxResponse>('listPodSandbox', {}),
      call<cri.ListContainersResponse>('listContainers', {}),
    ]);
    return {
      sandboxes: new Map(sb.items.map((s) => [s.id, s])),
      containers: new Map(ctr.containers.map((c) => [c.id, c])),
    };
  };

  const sandboxStatus = async (id: string): Promise<cri.PodSandboxStatus | null> => {
    try {
      const res = await call<cri.PodSandboxStatusResponse>('podSandboxStatus', {
        podSandboxId: id,
      });
      if (res.status) lastSandboxStatus.set(id, res.status);
      return res.status;
    } catch {
      const last = lastSandboxStatus.get(id);
      return last ? { ...last, state: 'SANDBOX_NOTREADY' } : null;
    }
  };

  const containerStatuses = async (
    sandboxId: string,
    now: Snapshot,
  ): Promise<cri.ContainerStatus[]> => {
    const ids = [...now.containers.values()].filter((c) => c.podSandboxId === sandboxId);
    const results = await Promise.all(
      ids.map((c) =>
        call<cri.ContainerStatusResponse>('containerStatus', { containerId: c.id }).then(
          (r) => r.status,
          () => null,
        ),
      ),
    );
    return results.filter((s): s is cri.ContainerStatus => s !== null);
  };

  const send = (event: cri.ContainerEventResponse): void => {
    const bytes = Buffer.from(eventType.encode(eventType.fromObject(event)).finish());
    for (const s of streams) {
      s.write(bytes);
      sent++;
    }
  };

  const diff = async (before: Snapshot, now: Snapshot): Promise<void> => {
    const pending: Array<{ id: string; sandboxId: string; types: cri.ContainerEventType[] }> = [];
    const changes = (
      oldState: string | undefined,
      newState: string | undefined,
      running: string,
      exited: string,
    ): cri.ContainerEventType[] => {
      if (oldState === newState) return [];
      if (newState === undefined) return ['CONTAINER_DELETED_EVENT'];
      const types: cri.ContainerEventType[] = [];
      if (oldState === undefined) types.push('CONTAINER_CREATED_EVENT');
      if (newState === running) types.push('CONTAINER_STARTED_EVENT');
      if (newState === exited) {
        if (oldState === undefined) types.push('CONTAINER_STARTED_EVENT');
        types.push('CONTAINER_STOPPED_EVENT');
      }
      return types;
    };
    for (const id of new Set([...before.sandboxes.keys(), ...now.sandboxes.keys()])) {
      const types = changes(
        before.sandboxes.get(id)?.state,
        now.sandboxes.get(id)?.state,
        'SANDBOX_READY',
        'SANDBOX_NOTREADY',
      );
      if (types.length > 0) pending.push({ id, sandboxId: id, types });
    }
    for (const id of new Set([...before.containers.keys(), ...now.containers.keys()])) {
      const c = now.containers.get(id) ?? before.containers.get(id);
      const types = changes(
        before.containers.get(id)?.state,
        now.containers.get(id)?.state,
        'CONTAINER_RUNNING',
        'CONTAINER_EXITED',
      );
      if (c && types.length > 0) pending.push({ id, sandboxId: c.podSandboxId, types });
    }
    // Containers before their sandbox's removal, sandboxes before their containers' start.
    for (const p of pending) {
      const [podSandboxStatus, statuses] = await Promise.all([
        sandboxStatus(p.sandboxId),
        containerStatuses(p.sandboxId, now),
      ]);
      for (const type of p.types) {
        send({
          containerId: p.id,
          containerEventType: type,
          createdAt: Date.now() * 1_000_000,
          podSandboxStatus,
          containersStatuses: statuses,
        });
      }
    }
  };

  const poll = (): Promise<void> => {
    if (polling) {
      pollAgain = true;
      return polling;
    }
    polling = (async () => {
      do {
        pollAgain = false;
        try {
          const now = await snapshot();
          if (previous && streams.size > 0) await diff(previous, now);
          previous = now;
        } catch {
          // The runtime is down or restarting: try again at the next tick.
        }
      } while (pollAgain && !stopped);
    })().finally(() => {
      polling = undefined;
    });
    return polling;
  };

  const schedule = (): void => {
    if (stopped || streams.size === 0 || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void poll().finally(schedule);
    }, pollIntervalMs);
  };

  // ------------------------------------------------------------ gRPC service
  const definition: Record<string, MethodDefinition<Buffer, Buffer>> = {};
  const impl: Record<string, unknown> = {};
  for (const [name, info] of Object.entries(allMethods)) {
    definition[name] = {
      path: info.path,
      requestStream: false,
      responseStream: info.responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: name,
    };
    if (name === 'getContainerEvents') {
      impl[name] = (stream: ServerWritableStream<Buffer, Buffer>): void => {
        if (refuseCode !== undefined) {
          stream.emit('error', { code: refuseCode, details: 'event stream refused by the test' });
          return;
        }
        // Baseline first, so that only changes from now on become events.
        if (streams.size === 0) previous = undefined;
        streams.add(stream);
        stream.on('cancelled', () => streams.delete(stream));
        stream.on('close', () => streams.delete(stream));
        void poll().finally(schedule);
      };
    } else if (info.responseStream) {
      impl[name] = (stream: ServerWritableStream<Buffer, Buffer>): void => {
        const deadline = stream.getDeadline();
        const up = upstream.makeServerStreamRequest(
          info.path,
          identity,
          identity,
          stream.request,
          new Metadata(),
          deadline === Infinity ? {} : { deadline },
        );
        up.on('data', (b: Buffer) => stream.write(b));
        up.on('end', () => stream.end());
        up.on('error', (err: ServiceError) => stream.emit('error', err));
        stream.on('cancelled', () => up.cancel());
      };
    } else {
      impl[name] = (
        call: ServerUnaryCall<Buffer, Buffer>,
        callback: sendUnaryData<Buffer>,
      ): void => {
        const deadline = call.getDeadline();
        upstreamUnary(
          info.path,
          call.request,
          deadline === Infinity ? undefined : new Date(deadline),
        ).then(
          (value) => {
            callback(null, value);
            if (mutatingMethods.has(name) && streams.size > 0) void poll();
          },
          (err: ServiceError) => callback(err),
        );
      };
    }
  }
  const server = new Server();
  server.addService(definition, impl as UntypedServiceImplementation);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );

  return {
    endpoint: `unix://${socketPath}`,
    socketPath,
    breakStreams(code = grpcStatus.UNAVAILABLE, details = 'event stream broken by the test') {
      for (const s of streams) s.emit('error', { code, details });
      streams.clear();
    },
    refuseStreams(code) {
      refuseCode = code;
    },
    openStreams: () => streams.size,
    eventsSent: () => sent,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const s of streams) s.end();
      streams.clear();
      await polling;
      server.forceShutdown();
      upstream.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
