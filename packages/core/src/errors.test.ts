import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  NodeAgentError,
  NotFoundError,
  UnavailableError,
  errorCodeForGrpcStatus,
  errorForCode,
  isGrpcServiceError,
  isNodeAgentError,
} from './errors.js';

describe('errors', () => {
  it('maps every code to its own class, carrying operation, detail and cause', () => {
    const cause = new Error('wire');
    for (const code of Object.values(ErrorCode)) {
      const err = errorForCode(code, `failed: ${code}`, { operation: 'Op', detail: 'd', cause });
      expect(err).toBeInstanceOf(NodeAgentError);
      expect(err.code).toBe(code);
      expect(err.name).toBe(`${code}Error`);
      expect(err.operation).toBe('Op');
      expect(err.detail).toBe('d');
      expect(err.cause).toBe(cause);
    }
    expect(errorForCode('NotFound', 'x')).toBeInstanceOf(NotFoundError);
  });

  it('isNodeAgentError checks the brand and, optionally, the code', () => {
    const err = new UnavailableError('down');
    expect(isNodeAgentError(err)).toBe(true);
    expect(isNodeAgentError(err, ErrorCode.Unavailable)).toBe(true);
    expect(isNodeAgentError(err, ErrorCode.NotFound)).toBe(false);
    expect(isNodeAgentError(new Error('plain'))).toBe(false);
    expect(isNodeAgentError({ code: 'NotFound' })).toBe(false);
    expect(isNodeAgentError(undefined)).toBe(false);
  });

  it('omits cause when none is given', () => {
    expect('cause' in new NotFoundError('x')).toBe(false);
  });
});

describe('gRPC status codes', () => {
  it('maps the protocol numbers onto the codes, anything else to Unknown', () => {
    expect(errorCodeForGrpcStatus(1)).toBe(ErrorCode.Cancelled);
    expect(errorCodeForGrpcStatus(4)).toBe(ErrorCode.DeadlineExceeded);
    expect(errorCodeForGrpcStatus(5)).toBe(ErrorCode.NotFound);
    expect(errorCodeForGrpcStatus(12)).toBe(ErrorCode.Unimplemented);
    expect(errorCodeForGrpcStatus(14)).toBe(ErrorCode.Unavailable);
    expect(errorCodeForGrpcStatus(16)).toBe(ErrorCode.Unauthenticated);
    for (const odd of [0, -1, 17, 1.5, Number.NaN])
      expect(errorCodeForGrpcStatus(odd)).toBe(ErrorCode.Unknown);
  });

  it('recognises a grpc-js failure by its numeric code and details', () => {
    expect(isGrpcServiceError(Object.assign(new Error('x'), { code: 14, details: 'down' }))).toBe(
      true,
    );
    expect(isGrpcServiceError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isGrpcServiceError({ code: 14 })).toBe(false);
    expect(isGrpcServiceError(null)).toBe(false);
  });
});
