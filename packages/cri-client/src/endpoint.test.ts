import { InvalidConfigError } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { parseCriEndpoint } from './endpoint.js';

describe('parseCriEndpoint', () => {
  it('accepts unix:// URLs, unix: and bare absolute paths', () => {
    expect(parseCriEndpoint('unix:///run/containerd/containerd.sock')).toEqual({
      address: 'unix:///run/containerd/containerd.sock',
      socketPath: '/run/containerd/containerd.sock',
    });
    expect(parseCriEndpoint('unix:/run/crio/crio.sock').socketPath).toBe('/run/crio/crio.sock');
    expect(parseCriEndpoint(' /tmp/x.sock ').address).toBe('unix:///tmp/x.sock');
  });

  it.each(['tcp://127.0.0.1:1234', 'containerd.sock', 'unix://relative.sock', ''])(
    'rejects %j with a clear error',
    (endpoint) => {
      expect(() => parseCriEndpoint(endpoint)).toThrow(InvalidConfigError);
    },
  );
});
