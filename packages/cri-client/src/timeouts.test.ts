import { describe, expect, it } from 'vitest';
import { defaultTimeoutMs } from './timeouts.js';

const defaults = { runtimeRequestTimeoutMs: 120_000, statusRequestTimeoutMs: 10_000 };

describe('defaultTimeoutMs', () => {
  it('gives list/status/stats calls the short deadline and mutations the long one', () => {
    expect(defaultTimeoutMs('listContainers', {}, defaults)).toBe(10_000);
    expect(defaultTimeoutMs('version', undefined, defaults)).toBe(10_000);
    expect(defaultTimeoutMs('imageFsInfo', {}, defaults)).toBe(10_000);
    expect(defaultTimeoutMs('runPodSandbox', {}, defaults)).toBe(120_000);
    expect(defaultTimeoutMs('removeImage', {}, defaults)).toBe(120_000);
  });

  it('adds the stop grace period and the exec timeout, as the kubelet does', () => {
    expect(defaultTimeoutMs('stopContainer', { timeout: 30 }, defaults)).toBe(150_000);
    expect(defaultTimeoutMs('execSync', { timeout: 1 }, defaults)).toBe(121_000);
    expect(defaultTimeoutMs('execSync', { timeout: 0 }, defaults)).toBe(120_000);
    expect(defaultTimeoutMs('execSync', {}, defaults)).toBe(120_000);
  });

  it('sets no deadline on image pulls', () => {
    expect(defaultTimeoutMs('pullImage', {}, defaults)).toBeUndefined();
  });
});
