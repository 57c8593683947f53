import {
  ErrorCode,
  errorCodeForGrpcStatus,
  errorForCode,
  type NodeAgentError,
} from '@nodeagent/core';

/** core's error code for a gRPC status code (re-exported). */
export { errorCodeForGrpcStatus };

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
