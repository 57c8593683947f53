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

function codeClass<C extends ErrorCode>(code: C) {
  return class extends NodeAgentError {
    declare readonly code: C;
    constructor(message: string, options?: NodeAgentErrorOptions) {
      super(code, message, options);
    }
  };
}

/** The requested object (container, sandbox, image…) does not exist. */
export class NotFoundError extends codeClass(ErrorCode.NotFound) {}
/** The remote side cannot be reached or is not serving; retrying later may work. */
export class UnavailableError extends codeClass(ErrorCode.Unavailable) {}
/** The operation did not finish before its deadline. */
export class DeadlineExceededError extends codeClass(ErrorCode.DeadlineExceeded) {}
/** The request was malformed. */
export class InvalidArgumentError extends codeClass(ErrorCode.InvalidArgument) {}
/** The object to create exists already. */
export class AlreadyExistsError extends codeClass(ErrorCode.AlreadyExists) {}
/** The system is not in a state where the operation can run. */
export class FailedPreconditionError extends codeClass(ErrorCode.FailedPrecondition) {}
/** The caller cancelled the operation (for instance through an AbortSignal). */
export class CancelledError extends codeClass(ErrorCode.Cancelled) {}
/** The remote side does not implement the operation. */
export class UnimplementedError extends codeClass(ErrorCode.Unimplemented) {}
/** The caller lacks permission. */
export class PermissionDeniedError extends codeClass(ErrorCode.PermissionDenied) {}
/** The caller is not authenticated. */
export class UnauthenticatedError extends codeClass(ErrorCode.Unauthenticated) {}
/** A quota or resource ran out. */
export class ResourceExhaustedError extends codeClass(ErrorCode.ResourceExhausted) {}
/** The operation was aborted, typically by a concurrency conflict. */
export class AbortedError extends codeClass(ErrorCode.Aborted) {}
/** A value was outside its valid range. */
export class OutOfRangeError extends codeClass(ErrorCode.OutOfRange) {}
/** An internal invariant broke on the remote side. */
export class InternalError extends codeClass(ErrorCode.Internal) {}
/** Unrecoverable data loss or corruption. */
export class DataLossError extends codeClass(ErrorCode.DataLoss) {}
/** An error with no better classification. */
export class UnknownError extends codeClass(ErrorCode.Unknown) {}
/** The runtime does not speak the CRI version nodeagent needs. */
export class RuntimeVersionUnsupportedError extends codeClass(
  ErrorCode.RuntimeVersionUnsupported,
) {}
/** Configuration given to a component is invalid. */
export class InvalidConfigError extends codeClass(ErrorCode.InvalidConfig) {}

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
