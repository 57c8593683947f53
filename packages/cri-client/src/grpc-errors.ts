import { existsSync } from 'node:fs';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errorForCode, type NodeAgentError } from '@nodeagent/core';

const codeByStatus: Record<number, ErrorCode> = {
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

function isServiceError(err: unknown): err is ServiceError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'details' in err
  );
}

/** The NodeAgentError code for a gRPC status code. */
export function errorCodeForGrpcStatus(code: number): ErrorCode {
  return codeByStatus[code] ?? ErrorCode.Unknown;
}

/**
 * Converts what grpc-js reports into a typed NodeAgentError that names the method
 * and keeps the runtime's own message in `detail`. An unreachable unix socket is
 * reported with its path, and says when the socket file does not exist at all.
 */
export function toCriError(err: unknown, operation: string, socketPath: string): NodeAgentError {
  if (!isServiceError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return errorForCode(ErrorCode.Unknown, `${operation}: ${message}`, { operation, cause: err });
  }
  const code = errorCodeForGrpcStatus(err.code);
  const detail = err.details;
  let message = `${operation}: ${detail || code}`;
  if (code === ErrorCode.Unavailable) {
    message = existsSync(socketPath)
      ? `${operation}: container runtime at unix://${socketPath} is unavailable: ${detail}`
      : `${operation}: container runtime socket ${socketPath} does not exist (is the runtime running?)`;
  } else if (code === ErrorCode.DeadlineExceeded) {
    message = `${operation}: deadline exceeded talking to unix://${socketPath}: ${detail}`;
  }
  return errorForCode(code, message, { operation, detail, cause: err });
}
