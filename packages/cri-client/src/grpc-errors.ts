import { existsSync } from 'node:fs';
import {
  ErrorCode,
  errorCodeForGrpcStatus,
  errorForCode,
  isGrpcServiceError,
  type NodeAgentError,
} from '@nodeagent/core';

/** The NodeAgentError code for a gRPC status code (core's, re-exported). */
export { errorCodeForGrpcStatus };

/**
 * Converts what grpc-js reports into a typed NodeAgentError that names the method
 * and keeps the runtime's own message in `detail`. An unreachable unix socket is
 * reported with its path, and says when the socket file does not exist at all.
 */
export function toCriError(err: unknown, operation: string, socketPath: string): NodeAgentError {
  if (!isGrpcServiceError(err)) {
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
