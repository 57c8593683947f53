import { existsSync, unlinkSync } from 'node:fs';
import {
  Server,
  ServerCredentials,
  status as grpcStatus,
  type MethodDefinition,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** A gRPC failure a handler throws: a status code and a message. */
export class GrpcFailure extends Error {
  constructor(
    readonly code: grpcStatus,
    message: string,
  ) {
    super(message);
  }
}

/** One method of a generated method table. */
interface MethodInfo {
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
}

const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/** A unary handler: takes the decoded request, returns the reply object (or raw bytes). */
export type UnaryHandler = (
  request: Record<string, unknown>,
  call: ServerUnaryCall<unknown, unknown>,
) => unknown;

/**
 * Serves the methods of one or more generated method tables on a unix socket. A
 * handler may return a Buffer to send raw (possibly malformed) reply bytes.
 */
export async function serveUnix(
  socketPath: string,
  descriptor: Readonly<Record<string, unknown>>,
  tables: ReadonlyArray<Readonly<Record<string, MethodInfo>>>,
  handlers: Readonly<Record<string, UnaryHandler>>,
): Promise<Server> {
  const root = protobuf.Root.fromJSON(descriptor);
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const impl: Record<string, unknown> = {};
  for (const table of tables) {
    for (const [name, info] of Object.entries(table)) {
      const handler = handlers[name];
      if (!handler) continue;
      const req = root.lookupType(info.requestType);
      const res = root.lookupType(info.responseType);
      definition[name] = {
        path: info.path,
        requestStream: false,
        responseStream: false,
        requestSerialize: (v) => Buffer.from(req.encode(req.fromObject(v as object)).finish()),
        requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), decodeOptions),
        responseSerialize: (v) =>
          Buffer.isBuffer(v) ? v : Buffer.from(res.encode(res.fromObject(v as object)).finish()),
        responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), decodeOptions),
        originalName: name,
      };
      impl[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        Promise.resolve()
          .then(() => handler(call.request as Record<string, unknown>, call))
          .then(
            (value) => callback(null, value),
            (err: unknown) => {
              if (err instanceof GrpcFailure) callback({ code: err.code, details: err.message });
              else
                callback({
                  code: grpcStatus.INTERNAL,
                  details: err instanceof Error ? err.message : String(err),
                });
            },
          );
      };
    }
  }
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const server = new Server();
  server.addService(definition, impl as UntypedServiceImplementation);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  return server;
}

/** Stops a server at once (pending calls fail) and removes its socket file. */
export function shutdownUnix(server: Server, socketPath: string): void {
  server.forceShutdown();
  try {
    unlinkSync(socketPath);
  } catch {
    // already gone
  }
}
