import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  NodeAgentError,
  NotFoundError,
  UnavailableError,
  errorForCode,
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
