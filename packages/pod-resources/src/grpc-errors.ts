import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorCode, errorForCode, type NodeAgentError } from '@nodeagent/core';

const codes: Readonly<Record<number, ErrorCode>> = {
  [GrpcStatus.CANCELLED]: ErrorCode.Cancelled,
  [GrpcStatus.UNKNOWN]: ErrorCode.Unknown,
  [GrpcStatus.INVALID_ARGUMENT]: ErrorCode.InvalidArgument,
  [GrpcStatus.DEADLINE_EXCEEDED]: ErrorCode.DeadlineExceeded,
  [GrpcStatus.NOT_FOUND]: ErrorCode.NotFound,
  [GrpcStatus.ALREADY_EXISTS]: ErrorCode.AlreadyExists,
  [GrpcStatus.PERMISSION_DENIED]: ErrorCode.PermissionDenied,
  [GrpcStatus.RESOURCE_EXHAUSTED]: ErrorCode.ResourceExhausted,
  [GrpcStatus.FAILED_PRECONDITION]: ErrorCode.FailedPrecondition,
  [GrpcStatus.ABORTED]: ErrorCode.Aborted,
  [GrpcStatus.OUT_OF_RANGE]: ErrorCode.OutOfRange,
  [GrpcStatus.UNIMPLEMENTED]: ErrorCode.Unimplemented,
  [GrpcStatus.INTERNAL]: ErrorCode.Internal,
  [GrpcStatus.UNAVAILABLE]: ErrorCode.Unavailable,
  [GrpcStatus.DATA_LOSS]: ErrorCode.DataLoss,
  [GrpcStatus.UNAUTHENTICATED]: ErrorCode.Unauthenticated,
};

/** core's error code for a gRPC status code (`Unknown` for anything unexpected). */
export function errorCodeForGrpcStatus(code: number): ErrorCode {
  return codes[code] ?? ErrorCode.Unknown;
}

interface GrpcErrorLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
}

/**
 * The typed error for a failed call: `code` from the gRPC status, `detail` the
 * server's own message verbatim (e.g. `pod web in namespace default not found`).
 */
export function toPodResourcesError(
  err: unknown,
  operation: string,
  target: string,
): NodeAgentError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as GrpcErrorLike;
  const code = typeof e.code === 'number' ? errorCodeForGrpcStatus(e.code) : ErrorCode.Unknown;
  const detail =
    typeof e.details === 'string'
      ? e.details
      : typeof e.message === 'string'
        ? e.message
        : String(err);
  const where = code === ErrorCode.Unavailable ? ` (${target})` : '';
  return errorForCode(code, `${operation} failed${where}: ${detail}`, {
    cause: err,
    operation,
    detail,
  });
}
