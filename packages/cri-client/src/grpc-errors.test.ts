import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorCode } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { errorCodeForGrpcStatus, toCriError } from './grpc-errors.js';

/** `DEADLINE_EXCEEDED` → `DeadlineExceeded`. */
const pascal = (name: string): string =>
  name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');

describe('gRPC status → error code', () => {
  it("agrees with grpc-js's status enum for every status but OK", () => {
    const names = Object.entries(GrpcStatus).filter(
      (e): e is [string, number] => typeof e[1] === 'number' && e[0] !== 'OK',
    );
    expect(names).toHaveLength(16);
    for (const [name, n] of names) expect(errorCodeForGrpcStatus(n), name).toBe(pascal(name));
  });

  it('names the socket when the runtime is unavailable, and keeps its own message in detail', () => {
    const err = toCriError(
      Object.assign(new Error('14 UNAVAILABLE'), {
        code: GrpcStatus.UNAVAILABLE,
        details: 'No connection established',
      }),
      'RunPodSandbox',
      '/nonexistent/containerd.sock',
    );
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toBe(
      'RunPodSandbox: container runtime socket /nonexistent/containerd.sock does not exist (is the runtime running?)',
    );
    expect(err.detail).toBe('No connection established');
    const notFound = toCriError(
      Object.assign(new Error('5 NOT_FOUND'), { code: GrpcStatus.NOT_FOUND, details: 'no such' }),
      'ContainerStatus',
      '/x.sock',
    );
    expect(notFound.code).toBe(ErrorCode.NotFound);
    expect(notFound.message).toBe('ContainerStatus: no such');
  });
});
