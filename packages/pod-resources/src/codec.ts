import protobuf from 'protobufjs';
import { podResourcesDescriptor, podResourcesListerMethods } from './generated/descriptor.js';
import type { PodResourcesMethodInfo } from './generated/descriptor.js';

/**
 * How decoded messages look: every field present, 64-bit integers as numbers,
 * absent sub-messages as null (the same conventions as the CRI types in core).
 */
const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/** Method names of `v1.PodResourcesLister`, camelCase. */
export type PodResourcesMethodName = keyof typeof podResourcesListerMethods;

/** Encoders, decoders and path of one PodResourcesLister method, for both ends. */
export interface PodResourcesMethodCodec {
  readonly name: PodResourcesMethodName;
  /** `PodResourcesLister/List`, used in errors. */
  readonly operation: string;
  readonly path: string;
  readonly encodeRequest: (value: unknown) => Buffer;
  readonly decodeRequest: (bytes: Buffer) => unknown;
  readonly encodeResponse: (value: unknown) => Buffer;
  readonly decodeResponse: (bytes: Buffer) => unknown;
}

/** The encoder's bytes as a Buffer, without a copy (protobufjs hands out Buffers on Node). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

let root: protobuf.Root | undefined;

function schema(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(podResourcesDescriptor);
  return root;
}

function codecFor(
  name: PodResourcesMethodName,
  info: PodResourcesMethodInfo,
): PodResourcesMethodCodec {
  const requestType = schema().lookupType(info.requestType);
  const responseType = schema().lookupType(info.responseType);
  const rpc = info.path.slice(info.path.lastIndexOf('/') + 1);
  return {
    name,
    operation: `PodResourcesLister/${rpc}`,
    path: info.path,
    // Requests come from callers: fromObject checks and converts their shapes.
    encodeRequest: (value) =>
      asBuffer(requestType.encode(requestType.fromObject(value ?? {})).finish()),
    decodeRequest: (bytes) => requestType.toObject(requestType.decode(bytes), decodeOptions),
    // Responses are built by the server in the generated shapes: encoded as they are.
    encodeResponse: (value) =>
      asBuffer(responseType.encode(value as Record<string, unknown>).finish()),
    decodeResponse: (bytes) => responseType.toObject(responseType.decode(bytes), decodeOptions),
  };
}

let codecs: Readonly<Record<PodResourcesMethodName, PodResourcesMethodCodec>> | undefined;

/** The codecs of the three PodResourcesLister methods (built once). */
export function podResourcesCodecs(): Readonly<
  Record<PodResourcesMethodName, PodResourcesMethodCodec>
> {
  codecs ??= {
    list: codecFor('list', podResourcesListerMethods.list),
    getAllocatableResources: codecFor(
      'getAllocatableResources',
      podResourcesListerMethods.getAllocatableResources,
    ),
    get: codecFor('get', podResourcesListerMethods.get),
  };
  return codecs;
}
