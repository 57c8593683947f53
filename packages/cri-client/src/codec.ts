import protobuf from 'protobufjs';
import {
  criDescriptor,
  imageServiceMethods,
  runtimeServiceMethods,
} from './generated/descriptor.js';
import type { CriMethodInfo } from './generated/descriptor.js';

/**
 * How decoded messages look (documented on the generated types in
 * `@nodeagent/core`): every field present, 64-bit integers as numbers, enums as
 * their names, absent sub-messages as null, bytes as Buffers.
 */
export const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/** Encoder, decoder and path of one gRPC method. */
export interface MethodCodec {
  readonly service: 'RuntimeService' | 'ImageService';
  readonly name: string;
  /** `RuntimeService/ListContainers`, used in errors and metrics. */
  readonly operation: string;
  readonly path: string;
  readonly responseStream: boolean;
  readonly serialize: (value: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

let root: protobuf.Root | undefined;

/** The CRI schema as a protobufjs Root (built once). */
export function criSchema(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(criDescriptor);
  return root;
}

function codecFor(service: MethodCodec['service'], name: string, info: CriMethodInfo): MethodCodec {
  const requestType = criSchema().lookupType(info.requestType);
  const responseType = criSchema().lookupType(info.responseType);
  const rpcName = info.path.slice(info.path.lastIndexOf('/') + 1);
  return {
    service,
    name,
    operation: `${service}/${rpcName}`,
    path: info.path,
    responseStream: info.responseStream,
    serialize: (value) =>
      requestType.encode(requestType.fromObject(value ?? {})).finish() as Buffer,
    deserialize: (bytes) => responseType.toObject(responseType.decode(bytes), decodeOptions),
  };
}

let codecs: ReadonlyMap<string, MethodCodec> | undefined;

/** Codecs of every method of both CRI services, keyed by camelCase method name. */
export function criMethodCodecs(): ReadonlyMap<string, MethodCodec> {
  if (!codecs) {
    const map = new Map<string, MethodCodec>();
    for (const [name, info] of Object.entries(runtimeServiceMethods)) {
      map.set(name, codecFor('RuntimeService', name, info));
    }
    for (const [name, info] of Object.entries(imageServiceMethods)) {
      map.set(name, codecFor('ImageService', name, info));
    }
    codecs = map;
  }
  return codecs;
}
