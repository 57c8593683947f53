/**
 * Stable error codes. The first group mirrors the gRPC status codes (the CRI and
 * CSI boundaries map gRPC statuses onto them); the rest are nodeagent's own.
 */
export const ErrorCode = {
  Cancelled: 'Cancelled',
  Unknown: 'Unknown',
  InvalidArgument: 'InvalidArgument',
  DeadlineExceeded: 'DeadlineExceeded',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  PermissionDenied: 'PermissionDenied',
  ResourceExhausted: 'ResourceExhausted',
  FailedPrecondition: 'FailedPrecondition',
  Aborted: 'Aborted',
  OutOfRange: 'OutOfRange',
  Unimplemented: 'Unimplemented',
  Internal: 'Internal',
  Unavailable: 'Unavailable',
  DataLoss: 'DataLoss',
  Unauthenticated: 'Unauthenticated',
  /** The runtime answered, but does not speak the API version nodeagent needs. */
  RuntimeVersionUnsupported: 'RuntimeVersionUnsupported',
  /** Configuration given to a nodeagent component is invalid. */
  InvalidConfig: 'InvalidConfig',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Extra, typed context an error can carry. */
export interface NodeAgentErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** The operation that failed, e.g. `RuntimeService/ListContainers`. */
  operation?: string;
  /** The remote side's own message (runtime, CSI driver, API server), verbatim. */
  detail?: string;
}

const brand = Symbol.for('nodeagent.error');

/**
 * Base class of every error nodeagent raises on purpose. `code` is stable and is
 * what callers branch on; messages are for people.
 */
export class NodeAgentError extends Error {
  readonly code: ErrorCode;
  readonly operation: string | undefined;
  readonly detail: string | undefined;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options: NodeAgentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.operation = options.operation;
    this.detail = options.detail;
  }
}

/**
 * True when `err` is a NodeAgentError (from any copy of this package) and, if `code`
 * is given, has that code.
 */
export function isNodeAgentError(err: unknown, code?: ErrorCode): err is NodeAgentError {
  if (typeof err !== 'object' || err === null || !(brand in err)) return false;
  return code === undefined || (err as NodeAgentError).code === code;
}

/** The requested object (container, sandbox, image…) does not exist. */
export class NotFoundError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.NotFound;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.NotFound, message, options);
  }
}

/** The remote side cannot be reached or is not serving; retrying later may work. */
export class UnavailableError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Unavailable;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Unavailable, message, options);
  }
}

/** The operation did not finish before its deadline. */
export class DeadlineExceededError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.DeadlineExceeded;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.DeadlineExceeded, message, options);
  }
}

/** The request was malformed. */
export class InvalidArgumentError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.InvalidArgument;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.InvalidArgument, message, options);
  }
}

/** The object to create exists already. */
export class AlreadyExistsError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.AlreadyExists;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.AlreadyExists, message, options);
  }
}

/** The system is not in a state where the operation can run. */
export class FailedPreconditionError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.FailedPrecondition;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.FailedPrecondition, message, options);
  }
}

/** The caller cancelled the operation (for instance through an AbortSignal). */
export class CancelledError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Cancelled;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Cancelled, message, options);
  }
}

/** The remote side does not implement the operation. */
export class UnimplementedError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Unimplemented;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Unimplemented, message, options);
  }
}

/** The caller lacks permission. */
export class PermissionDeniedError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.PermissionDenied;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.PermissionDenied, message, options);
  }
}

/** The caller is not authenticated. */
export class UnauthenticatedError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Unauthenticated;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Unauthenticated, message, options);
  }
}

/** A quota or resource ran out. */
export class ResourceExhaustedError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.ResourceExhausted;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.ResourceExhausted, message, options);
  }
}

/** The operation was aborted, typically by a concurrency conflict. */
export class AbortedError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Aborted;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Aborted, message, options);
  }
}

/** A value was outside its valid range. */
export class OutOfRangeError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.OutOfRange;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.OutOfRange, message, options);
  }
}

/** An internal invariant broke on the remote side. */
export class InternalError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Internal;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Internal, message, options);
  }
}

/** Unrecoverable data loss or corruption. */
export class DataLossError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.DataLoss;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.DataLoss, message, options);
  }
}

/** An error with no better classification. */
export class UnknownError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.Unknown;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.Unknown, message, options);
  }
}

/** The runtime does not speak the CRI version nodeagent needs. */
export class RuntimeVersionUnsupportedError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.RuntimeVersionUnsupported;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.RuntimeVersionUnsupported, message, options);
  }
}

/** Configuration given to a component is invalid. */
export class InvalidConfigError extends NodeAgentError {
  declare readonly code: typeof ErrorCode.InvalidConfig;
  constructor(message: string, options?: NodeAgentErrorOptions) {
    super(ErrorCode.InvalidConfig, message, options);
  }
}

const classes = {
  Cancelled: CancelledError,
  Unknown: UnknownError,
  InvalidArgument: InvalidArgumentError,
  DeadlineExceeded: DeadlineExceededError,
  NotFound: NotFoundError,
  AlreadyExists: AlreadyExistsError,
  PermissionDenied: PermissionDeniedError,
  ResourceExhausted: ResourceExhaustedError,
  FailedPrecondition: FailedPreconditionError,
  Aborted: AbortedError,
  OutOfRange: OutOfRangeError,
  Unimplemented: UnimplementedError,
  Internal: InternalError,
  Unavailable: UnavailableError,
  DataLoss: DataLossError,
  Unauthenticated: UnauthenticatedError,
  RuntimeVersionUnsupported: RuntimeVersionUnsupportedError,
  InvalidConfig: InvalidConfigError,
} satisfies Record<
  ErrorCode,
  new (message: string, options?: NodeAgentErrorOptions) => NodeAgentError
>;

/** Builds the error class that belongs to `code`. */
export function errorForCode(
  code: ErrorCode,
  message: string,
  options?: NodeAgentErrorOptions,
): NodeAgentError {
  return new classes[code](message, options);
}

/**
 * The error codes in gRPC status-code order: index `n` is the code of gRPC status `n`
 * (0 OK has none). The numbers are fixed by the gRPC protocol, so no gRPC library is
 * needed to map them.
 */
const codeByGrpcStatus: readonly (ErrorCode | undefined)[] = [
  undefined, // 0 OK
  ErrorCode.Cancelled,
  ErrorCode.Unknown,
  ErrorCode.InvalidArgument,
  ErrorCode.DeadlineExceeded,
  ErrorCode.NotFound,
  ErrorCode.AlreadyExists,
  ErrorCode.PermissionDenied,
  ErrorCode.ResourceExhausted,
  ErrorCode.FailedPrecondition,
  ErrorCode.Aborted,
  ErrorCode.OutOfRange,
  ErrorCode.Unimplemented,
  ErrorCode.Internal,
  ErrorCode.Unavailable,
  ErrorCode.DataLoss,
  ErrorCode.Unauthenticated,
];

/**
 * The error code of a gRPC status code (1 CANCELLED … 16 UNAUTHENTICATED); `Unknown`
 * for 0 or anything outside the protocol's range. Shared by every gRPC boundary (CRI,
 * CSI, pod resources).
 */
export function errorCodeForGrpcStatus(status: number): ErrorCode {
  return codeByGrpcStatus[status] ?? ErrorCode.Unknown;
}

/**
 * True for a failed gRPC call as grpc-js reports it (a numeric `code` and the
 * server's `details`).
 */
export function isGrpcServiceError(err: unknown): err is Error & { code: number; details: string } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'details' in err
  );
}

/**
 * A pod spec that cannot be acted on: an invalid quantity, an unknown downward-API
 * field path, a port out of range… The kubelet reports these (as
 * `CreateContainerConfigError` for containers, or as an invalid static manifest) and
 * never crashes on them. `field` names the offending field in the API's path syntax,
 * e.g. `spec.containers[web].resources.limits.cpu`.
 */
export class InvalidPodSpecError extends InvalidArgumentError {
  /** Path of the offending field, `''` when the whole object is meant. */
  readonly field: string;

  constructor(field: string, message: string, options?: NodeAgentErrorOptions) {
    super(field === '' ? message : `${field}: ${message}`, options);
    this.field = field;
  }
}
